//! The error type every client call returns.

use crate::proto::ErrorCode;
use thiserror::Error;

/// Why a client call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The server answered with a non-zero `ReplyHeader.err`.
    #[error("{0}")]
    Keeper(ErrorCode),
    /// The server answered with an error code this crate does not know.
    #[error("unknown error code {0}")]
    UnknownCode(i32),
    /// The connection closed (or was never usable) before the reply arrived.
    #[error("connection loss")]
    ConnectionLoss,
    /// The handshake was answered with timeout 0: the session is gone.
    #[error("session expired")]
    SessionExpired,
    /// The server broke the wire protocol (bad frame, out-of-order reply, bad body).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A caller mistake found before anything was sent (bad connect string, bad path).
    #[error("bad arguments: {0}")]
    BadArguments(String),
    /// The session handle was closed by its owner.
    #[error("session closed")]
    Closed,
    /// A per-call timeout ran out before the reply arrived.
    #[error("operation timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A recipe was cancelled, or its session ended while it waited.
    #[error("{0}")]
    Recipe(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// Maps a non-zero wire code to `Keeper` (or `UnknownCode`).
    pub fn from_code(code: i32) -> Self {
        match ErrorCode::from_code(code) {
            Some(c) => ClientError::Keeper(c),
            None => ClientError::UnknownCode(code),
        }
    }

    /// Whether a retry policy may retry this error: only connection loss and timeouts
    /// (as Curator's `RetryLoop` does), never server answers or an expired session.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClientError::ConnectionLoss | ClientError::Timeout(_))
    }

    /// The server error code, if this is a `Keeper` error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Keeper(c) => Some(*c),
            _ => None,
        }
    }
}

impl From<crate::proto::DecodeError> for ClientError {
    fn from(e: crate::proto::DecodeError) -> Self {
        ClientError::Protocol(format!("undecodable reply body: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;
