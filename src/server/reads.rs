//! Requests a net core answers from its own tree view: reads, watch registration and
//! removal, and the session-local queries.

use crate::proto::codec::{Encode, Writer};
use crate::proto::opcode::{add_watch_mode, event, watcher_type};
use crate::proto::records::*;
use crate::proto::request::Request;
use crate::proto::ErrorCode;
use crate::tree::read::{self, ReadResult};
use crate::watch::{ConnNo, WatchKind};

use super::core::Core;
use super::reply;

fn data_frame(w: &mut Writer, data: Option<&[u8]>, stat: &Stat) {
    w.buffer(data);
    stat.encode(w);
}

impl Core {
    /// Answers a read-side request; `None` when nothing is sent (connection gone).
    pub(crate) fn serve_read(&mut self, no: ConnNo, xid: i32, req: Request) -> Option<Vec<u8>> {
        let conn = self.conns.get(&no)?;
        let ids = conn.ids.clone();
        let session = conn.session;
        let skip = self.shared.settings.prep.skip_acl;
        let tree = self.view.clone();
        let zxid = tree.last_zxid();
        let err = |code: ErrorCode| Some(reply::header_only(xid, zxid, code));
        let ok_header = || {
            let mut w = Writer::framed();
            ReplyHeader { xid, zxid, err: 0 }.encode(&mut w);
            w
        };
        match req {
            Request::Exists(r) => match read::exists(&tree, &ids, skip, &r.path) {
                Ok(stat) => {
                    if r.watch {
                        self.watches.add(WatchKind::Data, &r.path, no);
                    }
                    Some(reply::ok_with(xid, zxid, &ExistsResponse { stat }))
                }
                Err(ErrorCode::NoNode) => {
                    if r.watch {
                        self.watches.add(WatchKind::Data, &r.path, no);
                    }
                    err(ErrorCode::NoNode)
                }
                Err(e) => err(e),
            },
            Request::GetData(r) => match read::get_data(&tree, &ids, skip, &r.path) {
                Ok((data, stat)) => {
                    if r.watch {
                        self.watches.add(WatchKind::Data, &r.path, no);
                    }
                    let mut w = ok_header();
                    data_frame(&mut w, data.as_deref(), &stat);
                    Some(w.finish_frame())
                }
                Err(e) => err(e),
            },
            Request::GetChildren(r) => self.children(no, xid, &tree, &ids, skip, &r, false),
            Request::GetChildren2(r) => self.children(no, xid, &tree, &ids, skip, &r, true),
            Request::GetAcl(r) => match read::get_acl(&tree, &ids, skip, &r.path) {
                Ok((acl, stat)) => Some(reply::ok_with(xid, zxid, &GetAclResponse { acl, stat })),
                Err(e) => err(e),
            },
            Request::GetAllChildrenNumber(r) => {
                match read::all_children_number(&tree, &ids, skip, &r.path) {
                    Ok(total) => Some(reply::ok_with(
                        xid,
                        zxid,
                        &AllChildrenNumberResponse { total },
                    )),
                    Err(e) => err(e),
                }
            }
            Request::GetEphemerals(r) => {
                let items = read::get_ephemerals(&tree, session, &r.path);
                Some(reply::ok_with(xid, zxid, &StringsResponse { items }))
            }
            Request::MultiRead(ops) => {
                let results = read::multi_read(&tree, &ids, skip, &ops);
                let mut w = ok_header();
                for r in results {
                    match r {
                        Ok(ReadResult::Children(children)) => {
                            MultiHeader {
                                op: crate::proto::opcode::GET_CHILDREN,
                                done: false,
                                err: 0,
                            }
                            .encode(&mut w);
                            children.encode(&mut w);
                        }
                        Ok(ReadResult::Data(data, stat)) => {
                            MultiHeader {
                                op: crate::proto::opcode::GET_DATA,
                                done: false,
                                err: 0,
                            }
                            .encode(&mut w);
                            data_frame(&mut w, data.as_deref(), &stat);
                        }
                        Err(code) => {
                            MultiHeader {
                                op: crate::proto::opcode::ERROR,
                                done: false,
                                err: code.code(),
                            }
                            .encode(&mut w);
                            ErrorResponse { err: code.code() }.encode(&mut w);
                        }
                    }
                }
                MultiHeader {
                    op: -1,
                    done: true,
                    err: -1,
                }
                .encode(&mut w);
                Some(w.finish_frame())
            }
            Request::AddWatch(r) => {
                let kind = match r.mode {
                    add_watch_mode::PERSISTENT => WatchKind::Persistent,
                    add_watch_mode::PERSISTENT_RECURSIVE => WatchKind::PersistentRecursive,
                    _ => return err(ErrorCode::MarshallingError),
                };
                self.watches.add(kind, &r.path, no);
                Some(reply::ok_with(xid, zxid, &ErrorResponse { err: 0 }))
            }
            Request::CheckWatches(r) => {
                if !(watcher_type::CHILDREN..=watcher_type::PERSISTENT_RECURSIVE).contains(&r.kind)
                {
                    return err(ErrorCode::MarshallingError);
                }
                if self.watches.check(r.kind, &r.path, no) {
                    err(ErrorCode::Ok)
                } else {
                    err(ErrorCode::NoWatcher)
                }
            }
            Request::RemoveWatches(r) => {
                if !(watcher_type::CHILDREN..=watcher_type::PERSISTENT_RECURSIVE).contains(&r.kind)
                {
                    return err(ErrorCode::MarshallingError);
                }
                if self.watches.remove(r.kind, &r.path, no) {
                    err(ErrorCode::Ok)
                } else {
                    err(ErrorCode::NoWatcher)
                }
            }
            Request::SetWatches(sw) => {
                self.set_watches(no, &tree, sw);
                err(ErrorCode::Ok)
            }
            Request::WhoAmI => Some(reply::ok_with(
                xid,
                zxid,
                &WhoAmIResponse {
                    client_info: crate::acl::who_am_i(&ids),
                },
            )),
            Request::Sasl(_) => {
                // No SASL server is configured: the same answer as a failed auth packet.
                err(ErrorCode::AuthFailed)
            }
            other => {
                debug_assert!(false, "{other:?} is not a read");
                err(ErrorCode::Unimplemented)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn children(
        &mut self,
        no: ConnNo,
        xid: i32,
        tree: &crate::tree::DataTree,
        ids: &[Id],
        skip: bool,
        r: &GetChildrenRequest,
        with_stat: bool,
    ) -> Option<Vec<u8>> {
        let zxid = tree.last_zxid();
        match read::get_children(tree, ids, skip, &r.path) {
            Ok((children, stat)) => {
                if r.watch {
                    self.watches.add(WatchKind::Child, &r.path, no);
                }
                let mut w = Writer::framed();
                ReplyHeader { xid, zxid, err: 0 }.encode(&mut w);
                children.encode(&mut w);
                if with_stat {
                    stat.encode(&mut w);
                }
                Some(w.finish_frame())
            }
            Err(e) => Some(reply::header_only(xid, zxid, e)),
        }
    }

    /// Re-arms watches after a reconnect; changes newer than `relative_zxid` fire now with
    /// zxid -1, as ZooKeeper does.
    fn set_watches(&mut self, no: ConnNo, tree: &crate::tree::DataTree, sw: SetWatches2) {
        let rel = sw.relative_zxid;
        let mut fire = Vec::new();
        for p in &sw.data {
            match tree.get(p) {
                None => fire.push((event::NODE_DELETED, p)),
                Some(n) if n.stat.mzxid > rel => fire.push((event::NODE_DATA_CHANGED, p)),
                Some(_) => self.watches.add(WatchKind::Data, p, no),
            }
        }
        for p in &sw.exist {
            match tree.get(p) {
                Some(_) => fire.push((event::NODE_CREATED, p)),
                None => self.watches.add(WatchKind::Data, p, no),
            }
        }
        for p in &sw.child {
            match tree.get(p) {
                None => fire.push((event::NODE_DELETED, p)),
                Some(n) if n.stat.pzxid > rel => fire.push((event::NODE_CHILDREN_CHANGED, p)),
                Some(_) => self.watches.add(WatchKind::Child, p, no),
            }
        }
        for p in &sw.persistent {
            self.watches.add(WatchKind::Persistent, p, no);
        }
        for p in &sw.persistent_recursive {
            self.watches.add(WatchKind::PersistentRecursive, p, no);
        }
        for (kind, path) in fire {
            let f = reply::notification(-1, kind, path);
            self.send(no, f);
        }
    }
}
