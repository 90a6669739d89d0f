//! What a cli command can fail with, already worded as zkCli words it.

use super::format;
use crate::client::ClientError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Wrong arguments: the message is the command's usage line.
    #[error("{0}")]
    Usage(String),
    /// A failure with its final wording (server errors mapped as zkCli maps them).
    #[error("{0}")]
    Failed(String),
    #[error("Command not found: Command not found {0}")]
    UnknownCommand(String),
    /// No server in the list accepted a session.
    #[error("Unable to connect to {servers}: {reason}")]
    Connect { servers: String, reason: String },
}

impl CliError {
    /// zkCli's exit codes: 127 for an unknown command, 1 for every other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::UnknownCommand(_) => 127,
            _ => 1,
        }
    }

    /// A client error on `path`, in zkCli's words.
    pub fn client(e: ClientError, path: &str) -> CliError {
        CliError::Failed(format::client_error_message(&e, path))
    }
}
