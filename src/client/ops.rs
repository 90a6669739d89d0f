//! One method per opcode. Each builds its body, enqueues it immediately (so call order is
//! write order) and returns a `'static` future that decodes the reply strictly.

use super::error::{ClientError, Result};
use super::frame::{decode_exact, expect_empty};
use super::multi::{decode_multi, decode_multi_read, encode_multi, encode_multi_read, ReadEntry};
use super::types::{AddWatchMode, CreateMode, Op, OpResult, ReadOp, WatcherType};
use super::Client;
use crate::proto::codec::Encode;
use crate::proto::opcode as op;
use crate::proto::records::*;
use crate::proto::ErrorCode;
use std::future::Future;

/// The future every call returns.
pub trait Call<T>: Future<Output = Result<T>> + Send + 'static {}
impl<T, F: Future<Output = Result<T>> + Send + 'static> Call<T> for F {}

impl Client {
    /// Sends a request and decodes a successful body with `decode`; non-zero err becomes
    /// `ClientError::Keeper` (error replies must be header-only).
    fn call<T: Send + 'static>(
        &self,
        op: i32,
        body: Vec<u8>,
        decode: impl FnOnce(&[u8]) -> Result<T> + Send + 'static,
    ) -> impl Call<T> {
        let f = self.request_raw(op, body);
        async move {
            let (hdr, body) = f.await?;
            if hdr.err != 0 {
                expect_empty(&body)?;
                return Err(ClientError::from_code(hdr.err));
            }
            decode(&body)
        }
    }

    fn create_request(op: i32, path: &str, data: &[u8], acl: &[Acl], flags: i32) -> Vec<u8> {
        debug_assert!(op != op::CREATE_TTL);
        CreateRequest {
            path: path.into(),
            data: Some(data.into()),
            acl: acl.into(),
            flags,
        }
        .to_bytes()
    }

    /// create (1): returns the created path (with sequence suffix if any).
    pub fn create(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> impl Call<String> {
        let body = Self::create_request(op::CREATE, path, data, acl, mode.flags());
        self.call(op::CREATE, body, |b| {
            Ok(decode_exact::<CreateResponse>(b)?.path)
        })
    }

    /// create2 (15): path and the new node's Stat.
    pub fn create2(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> impl Call<(String, Stat)> {
        let body = Self::create_request(op::CREATE2, path, data, acl, mode.flags());
        self.call(op::CREATE2, body, decode_create2)
    }

    /// createContainer (19), flags 4.
    pub fn create_container(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
    ) -> impl Call<(String, Stat)> {
        let flags = CreateMode::Container.flags();
        let body = Self::create_request(op::CREATE_CONTAINER, path, data, acl, flags);
        self.call(op::CREATE_CONTAINER, body, decode_create2)
    }

    /// createTTL (21) with a CreateTTLRequest.
    pub fn create_ttl(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
        ttl: i64,
    ) -> impl Call<(String, Stat)> {
        let body = CreateTtlRequest {
            path: path.into(),
            data: Some(data.into()),
            acl: acl.into(),
            flags: mode.flags(),
            ttl,
        }
        .to_bytes();
        self.call(op::CREATE_TTL, body, decode_create2)
    }

    /// delete (2); `version` -1 matches any.
    pub fn delete(&self, path: &str, version: i32) -> impl Call<()> {
        let body = DeleteRequest {
            path: path.into(),
            version,
        }
        .to_bytes();
        self.call(op::DELETE, body, expect_empty)
    }

    /// exists (3): `None` on NONODE (which still sets the watch if asked).
    pub fn exists(&self, path: &str, watch: bool) -> impl Call<Option<Stat>> {
        let body = ExistsRequest {
            path: path.into(),
            watch,
        }
        .to_bytes();
        let f = self.call(op::EXISTS, body, |b| {
            Ok(decode_exact::<ExistsResponse>(b)?.stat)
        });
        async move {
            match f.await {
                Ok(s) => Ok(Some(s)),
                Err(ClientError::Keeper(ErrorCode::NoNode)) => Ok(None),
                Err(e) => Err(e),
            }
        }
    }

    /// getData (4): data (null stays `None`) and Stat.
    pub fn get_data(&self, path: &str, watch: bool) -> impl Call<(Option<Vec<u8>>, Stat)> {
        let body = GetDataRequest {
            path: path.into(),
            watch,
        }
        .to_bytes();
        self.call(op::GET_DATA, body, |b| {
            let r: GetDataResponse = decode_exact(b)?;
            Ok((r.data, r.stat))
        })
    }

    /// setData (5): the new Stat.
    pub fn set_data(&self, path: &str, data: &[u8], version: i32) -> impl Call<Stat> {
        let body = SetDataRequest {
            path: path.into(),
            data: Some(data.into()),
            version,
        }
        .to_bytes();
        self.call(op::SET_DATA, body, |b| {
            Ok(decode_exact::<SetDataResponse>(b)?.stat)
        })
    }

    /// getACL (6).
    pub fn get_acl(&self, path: &str) -> impl Call<(Vec<Acl>, Stat)> {
        let body = PathRequest { path: path.into() }.to_bytes();
        self.call(op::GET_ACL, body, |b| {
            let r: GetAclResponse = decode_exact(b)?;
            Ok((r.acl, r.stat))
        })
    }

    /// setACL (7); `version` is compared with aversion.
    pub fn set_acl(&self, path: &str, acl: &[Acl], version: i32) -> impl Call<Stat> {
        let body = SetAclRequest {
            path: path.into(),
            acl: acl.into(),
            version,
        }
        .to_bytes();
        self.call(op::SET_ACL, body, |b| {
            Ok(decode_exact::<SetAclResponse>(b)?.stat)
        })
    }

    /// getChildren (8): child names in server order.
    pub fn get_children(&self, path: &str, watch: bool) -> impl Call<Vec<String>> {
        let body = GetChildrenRequest {
            path: path.into(),
            watch,
        }
        .to_bytes();
        self.call(op::GET_CHILDREN, body, |b| {
            Ok(decode_exact::<GetChildrenResponse>(b)?.children)
        })
    }

    /// getChildren2 (12): child names and the parent's Stat.
    pub fn get_children2(&self, path: &str, watch: bool) -> impl Call<(Vec<String>, Stat)> {
        let body = GetChildrenRequest {
            path: path.into(),
            watch,
        }
        .to_bytes();
        self.call(op::GET_CHILDREN2, body, |b| {
            let r: GetChildren2Response = decode_exact(b)?;
            Ok((r.children, r.stat))
        })
    }

    /// sync (9): returns the path the server echoed.
    pub fn sync(&self, path: &str) -> impl Call<String> {
        let body = PathRequest { path: path.into() }.to_bytes();
        self.call(op::SYNC, body, |b| Ok(decode_exact::<PathRequest>(b)?.path))
    }

    /// multi (14): per-op results, including ErrorResults when the transaction failed.
    /// Only a whole-request failure (e.g. MARSHALLINGERROR) is an `Err`.
    pub fn multi(&self, ops: Vec<Op>) -> impl Call<Vec<OpResult>> {
        let body = encode_multi(&ops);
        self.call(op::MULTI, body, move |b| decode_multi(&ops, b))
    }

    /// multiRead (22): each read succeeds or fails on its own.
    pub fn multi_read(&self, ops: Vec<ReadOp>) -> impl Call<Vec<ReadEntry>> {
        let body = encode_multi_read(&ops);
        self.call(op::MULTI_READ, body, move |b| decode_multi_read(&ops, b))
    }

    /// addWatch (106).
    pub fn add_watch(&self, path: &str, mode: AddWatchMode) -> impl Call<()> {
        let body = AddWatchRequest {
            path: path.into(),
            mode: mode.code(),
        }
        .to_bytes();
        self.call(op::ADD_WATCH, body, |b| {
            let r: ErrorResponse = decode_exact(b)?;
            if r.err != 0 {
                return Err(ClientError::Protocol(format!(
                    "addWatch body err {}",
                    r.err
                )));
            }
            Ok(())
        })
    }

    /// removeWatches (18): NOWATCHER if there is none of that type.
    pub fn remove_watches(&self, path: &str, kind: WatcherType) -> impl Call<()> {
        self.watches_request(op::REMOVE_WATCHES, path, kind)
    }

    /// checkWatches (17): NOWATCHER if there is none of that type.
    pub fn check_watches(&self, path: &str, kind: WatcherType) -> impl Call<()> {
        self.watches_request(op::CHECK_WATCHES, path, kind)
    }

    fn watches_request(&self, opcode: i32, path: &str, kind: WatcherType) -> impl Call<()> {
        let body = WatchesRequest {
            path: path.into(),
            kind: kind.code(),
        }
        .to_bytes();
        self.call(opcode, body, expect_empty)
    }

    /// setWatches (101), or setWatches2 (105) when any persistent watch is given (the
    /// Java client's rule).
    pub fn set_watches(
        &self,
        relative_zxid: i64,
        data: &[&str],
        exist: &[&str],
        child: &[&str],
        persistent: &[&str],
        recursive: &[&str],
    ) -> impl Call<()> {
        let v = |s: &[&str]| s.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let (opcode, body) = if persistent.is_empty() && recursive.is_empty() {
            let r = SetWatches {
                relative_zxid,
                data: v(data),
                exist: v(exist),
                child: v(child),
            };
            (op::SET_WATCHES, r.to_bytes())
        } else {
            let r = SetWatches2 {
                relative_zxid,
                data: v(data),
                exist: v(exist),
                child: v(child),
                persistent: v(persistent),
                persistent_recursive: v(recursive),
            };
            (op::SET_WATCHES2, r.to_bytes())
        };
        self.call(opcode, body, expect_empty)
    }

    /// auth (100, xid -4). AUTHFAILED comes back as `Keeper(AuthFailed)` and the server
    /// then closes the connection.
    pub fn add_auth(&self, scheme: &str, auth: &[u8]) -> impl Call<()> {
        let body = AuthPacket {
            kind: 0,
            scheme: scheme.into(),
            auth: Some(auth.into()),
        }
        .to_bytes();
        self.call(op::AUTH, body, expect_empty)
    }

    /// whoAmI (107).
    pub fn who_am_i(&self) -> impl Call<Vec<ClientInfo>> {
        self.call(op::WHO_AM_I, vec![], |b| {
            Ok(decode_exact::<WhoAmIResponse>(b)?.client_info)
        })
    }

    /// getEphemerals (103): this session's ephemerals whose path starts with `prefix`.
    pub fn get_ephemerals(&self, prefix: &str) -> impl Call<Vec<String>> {
        let body = PathRequest {
            path: prefix.into(),
        }
        .to_bytes();
        self.call(op::GET_EPHEMERALS, body, |b| {
            Ok(decode_exact::<StringsResponse>(b)?.items)
        })
    }

    /// getAllChildrenNumber (104): descendants at all depths.
    pub fn get_all_children_number(&self, path: &str) -> impl Call<i32> {
        let body = PathRequest { path: path.into() }.to_bytes();
        self.call(op::GET_ALL_CHILDREN_NUMBER, body, |b| {
            Ok(decode_exact::<AllChildrenNumberResponse>(b)?.total)
        })
    }

    /// ping (11, xid -2), waiting for the reply.
    pub fn ping(&self) -> impl Call<()> {
        self.call(op::PING, vec![], expect_empty)
    }

    /// closeSession (-11): waits for the reply; the server then closes the socket.
    pub fn close(&self) -> impl Call<()> {
        self.call(op::CLOSE_SESSION, vec![], expect_empty)
    }
}

fn decode_create2(b: &[u8]) -> Result<(String, Stat)> {
    let r: Create2Response = decode_exact(b)?;
    Ok((r.path, r.stat))
}
