//! The ZooKeeper client wire protocol: jute codec, records, opcodes, error codes. No I/O.

pub mod codec;
pub mod error;
pub mod opcode;
pub mod records;
pub mod request;

pub use codec::{Decode, DecodeError, Encode, Reader, Writer};
pub use error::ErrorCode;
