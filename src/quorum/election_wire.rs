//! Bytes on the election port (spec §13.2), compatible with ZooKeeper's QuorumCnxManager so
//! that a ringkeeper server and a ZooKeeper server can elect each other during a rolling
//! replacement.
//!
//! A connection opens with `long protocolVersion; long sid; int len; byte[len] "host:port"`
//! from the dialing side, then carries frames `int len; byte[len] payload` both ways, each
//! payload one notification.

use thiserror::Error;

use super::election::Notification;
use super::vote::{epoch_of, PeerState, Sid, Vote};

/// ZooKeeper's protocol version marker for the one-address form of the first message.
pub const PROTOCOL_V1: i64 = -65536;
/// The multi-address form (`|`-separated addresses).
pub const PROTOCOL_V2: i64 = -65535;
/// Longest address string accepted in the first message.
pub const MAX_ADDRESS_LEN: usize = 2048;
/// Longest frame accepted (ZooKeeper's PACKETMAXSIZE).
pub const MAX_FRAME: usize = 512 * 1024;
/// The notification format version we write (carries the config string).
pub const NOTIFICATION_VERSION: i32 = 2;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("election frame of {0} bytes is too short for a notification")]
    Short(usize),
    #[error("unknown peer state {0} in notification")]
    BadState(i32),
    #[error("notification config length {0} does not fit the frame")]
    BadConfigLen(i32),
    #[error("unknown election protocol version {0}")]
    BadProtocol(i64),
    #[error("peer address of {0} bytes exceeds {MAX_ADDRESS_LEN}")]
    AddressTooLong(i64),
    #[error("peer address is not UTF-8")]
    AddressNotUtf8,
}

/// A decoded notification plus what only the wire knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireNotification {
    pub n: Notification,
    pub version: i32,
    /// The sender's view of the dynamic config (`server.N=...` lines, `version=`), if sent.
    pub config: Option<Vec<u8>>,
}

pub fn encode_notification(n: &Notification, config: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(44 + config.len());
    b.extend_from_slice(&n.state.code().to_be_bytes());
    b.extend_from_slice(&n.vote.leader.to_be_bytes());
    b.extend_from_slice(&n.vote.zxid.to_be_bytes());
    b.extend_from_slice(&n.round.to_be_bytes());
    b.extend_from_slice(&n.vote.peer_epoch.to_be_bytes());
    b.extend_from_slice(&NOTIFICATION_VERSION.to_be_bytes());
    b.extend_from_slice(&(config.len() as i32).to_be_bytes());
    b.extend_from_slice(config);
    b
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Accepts the 28-byte legacy form (no peer epoch: derived from the zxid), the 40-byte
/// form (peer epoch and a version with no config) and the current 44+n form.
pub fn decode_notification(b: &[u8]) -> Result<WireNotification, WireError> {
    if b.len() < 28 {
        return Err(WireError::Short(b.len()));
    }
    let code = i32_at(b, 0);
    let state = PeerState::from_code(code).ok_or(WireError::BadState(code))?;
    let leader = i64_at(b, 4);
    let zxid = i64_at(b, 12);
    let round = i64_at(b, 20);
    let (peer_epoch, version, config) = if b.len() < 40 {
        (epoch_of(zxid), 0, None)
    } else {
        let peer_epoch = i64_at(b, 28);
        let version = i32_at(b, 36);
        let config = if version > 1 && b.len() >= 44 {
            let len = i32_at(b, 40);
            if len < 0 || 44 + len as usize > b.len() {
                return Err(WireError::BadConfigLen(len));
            }
            Some(b[44..44 + len as usize].to_vec())
        } else {
            None
        };
        (peer_epoch, version, config)
    };
    Ok(WireNotification {
        n: Notification {
            state,
            vote: Vote {
                leader,
                zxid,
                peer_epoch,
            },
            round,
        },
        version,
        config,
    })
}

/// The dialing side's first message.
pub fn encode_initial(sid: Sid, address: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(20 + address.len());
    b.extend_from_slice(&PROTOCOL_V1.to_be_bytes());
    b.extend_from_slice(&sid.to_be_bytes());
    b.extend_from_slice(&(address.len() as i32).to_be_bytes());
    b.extend_from_slice(address.as_bytes());
    b
}

/// Parses the 20-byte head of the first message: `(sid, address length)`. Very old servers
/// sent only the sid (a non-negative first long); they are refused.
pub fn decode_initial_head(head: &[u8; 20]) -> Result<(Sid, usize), WireError> {
    let protocol = i64::from_be_bytes(head[0..8].try_into().expect("8"));
    if protocol != PROTOCOL_V1 && protocol != PROTOCOL_V2 {
        return Err(WireError::BadProtocol(protocol));
    }
    let sid = i64::from_be_bytes(head[8..16].try_into().expect("8"));
    let len = i32::from_be_bytes(head[16..20].try_into().expect("4")) as i64;
    if !(0..=MAX_ADDRESS_LEN as i64).contains(&len) {
        return Err(WireError::AddressTooLong(len));
    }
    Ok((sid, len as usize))
}

pub fn decode_address(b: &[u8]) -> Result<String, WireError> {
    String::from_utf8(b.to_vec()).map_err(|_| WireError::AddressNotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Notification {
        Notification {
            state: PeerState::Following,
            vote: Vote {
                leader: 3,
                zxid: 0x0000_0002_0000_0010,
                peer_epoch: 2,
            },
            round: 7,
        }
    }

    #[test]
    fn current_form_round_trips_with_config() {
        let cfg = b"server.1=127.0.0.1:2888:3888:participant\nversion=0";
        let b = encode_notification(&sample(), cfg);
        assert_eq!(b.len(), 44 + cfg.len());
        let w = decode_notification(&b).unwrap();
        assert_eq!(w.n, sample());
        assert_eq!(w.version, 2);
        assert_eq!(w.config.as_deref(), Some(&cfg[..]));
    }

    #[test]
    fn legacy_forms_decode() {
        let b = encode_notification(&sample(), b"");
        let w = decode_notification(&b[..28]).unwrap();
        assert_eq!(w.n.vote.peer_epoch, 2, "derived from the zxid's epoch");
        assert_eq!(w.version, 0);
        let mut forty = b[..36].to_vec();
        forty.extend_from_slice(&1i32.to_be_bytes());
        let w = decode_notification(&forty).unwrap();
        assert_eq!(w.n, sample());
        assert_eq!(w.config, None);
    }

    #[test]
    fn bad_frames_are_errors() {
        assert_eq!(decode_notification(&[0; 27]), Err(WireError::Short(27)));
        let mut b = encode_notification(&sample(), b"abc");
        b[3] = 9;
        assert_eq!(decode_notification(&b), Err(WireError::BadState(9)));
        let mut b = encode_notification(&sample(), b"abc");
        b[43] = 200;
        assert_eq!(decode_notification(&b), Err(WireError::BadConfigLen(200)));
    }

    #[test]
    fn initial_message() {
        let b = encode_initial(5, "127.0.0.1:3888");
        let head: [u8; 20] = b[..20].try_into().unwrap();
        let (sid, len) = decode_initial_head(&head).unwrap();
        assert_eq!((sid, len), (5, 14));
        assert_eq!(decode_address(&b[20..]).unwrap(), "127.0.0.1:3888");
        let mut old = head;
        old[..8].copy_from_slice(&5i64.to_be_bytes());
        assert_eq!(decode_initial_head(&old), Err(WireError::BadProtocol(5)));
    }
}
