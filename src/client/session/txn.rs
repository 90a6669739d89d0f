//! The multi builder: `zk.txn().create(..).set_data(..).check(..).commit()`.

use super::ZooKeeper;
use crate::client::error::{ClientError, Result};
use crate::client::types::{CreateMode, Op, OpResult};
use crate::proto::records::Acl;
use crate::proto::ErrorCode;

/// A transaction being built; nothing is sent until `commit`.
#[must_use = "a transaction does nothing until commit() is awaited"]
pub struct Txn {
    zk: ZooKeeper,
    ops: Vec<Op>,
}

impl Txn {
    pub(super) fn new(zk: ZooKeeper) -> Txn {
        Txn {
            zk,
            ops: Vec::new(),
        }
    }

    pub fn create(mut self, path: &str, data: &[u8], acl: &[Acl], mode: CreateMode) -> Txn {
        self.ops.push(Op::create(path, data, acl, mode));
        self
    }

    pub fn delete(mut self, path: &str, version: i32) -> Txn {
        self.ops.push(Op::delete(path, version));
        self
    }

    pub fn set_data(mut self, path: &str, data: &[u8], version: i32) -> Txn {
        self.ops.push(Op::set_data(path, data, version));
        self
    }

    pub fn check(mut self, path: &str, version: i32) -> Txn {
        self.ops.push(Op::check(path, version));
        self
    }

    /// Runs the transaction. All or nothing: on failure the error is the failing op's code
    /// (as the Java client's `KeeperException` from `multi`), with its index.
    pub async fn commit(self) -> Result<Vec<OpResult>> {
        let results = self.zk.multi(self.ops).await?;
        if let Some((i, code)) = results.iter().enumerate().find_map(|(i, r)| match r {
            OpResult::Error(c) if *c != ErrorCode::Ok && *c != ErrorCode::RuntimeInconsistency => {
                Some((i, *c))
            }
            _ => None,
        }) {
            tracing::debug!("multi op {i} failed: {code}");
            return Err(ClientError::Keeper(code));
        }
        Ok(results)
    }
}
