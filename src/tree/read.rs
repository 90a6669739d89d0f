//! Read operations (FinalRequestProcessor), each a pure function of one tree version.

pub use crate::proto::request::ReadOp;
