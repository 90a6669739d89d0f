//! Bytes on the quorum port (spec §13.3): jute `QuorumPacket{int type; long zxid; buffer
//! data; vector<Id> authinfo}` written back to back on the stream, mapped to and from
//! `zab::Msg`.
//!
//! The packet layouts follow ZooKeeper's (LearnerInfo in FOLLOWERINFO, the protocol version
//! in LEADERINFO, the current epoch in ACKEPOCH, session touches in a learner's PING, the
//! forwarded request layout in REQUEST). One deliberate difference: SNAP carries ringkeeper's
//! own snapshot format inside `data` instead of ZooKeeper's serialised tree after the
//! packet, so a SNAP sync works between ringkeeper servers only. A snapshot larger than one
//! part (`SNAP_PART_BYTES`) travels as SNAP_PART packets (ringkeeper's own type) followed by
//! the SNAP packet with the last part: no packet needs the whole tree in one buffer, and
//! the size is not bounded by a packet's 2 GiB length field.

use std::sync::Arc;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::vote::{make_zxid, Sid};
use super::zab::{Msg, SnapshotRef};

pub const REQUEST: i32 = 1;
pub const PROPOSAL: i32 = 2;
pub const ACK: i32 = 3;
pub const COMMIT: i32 = 4;
pub const PING: i32 = 5;
pub const REVALIDATE: i32 = 6;
pub const SYNC: i32 = 7;
pub const INFORM: i32 = 8;
pub const NEWLEADER: i32 = 10;
pub const FOLLOWERINFO: i32 = 11;
pub const UPTODATE: i32 = 12;
pub const DIFF: i32 = 13;
pub const TRUNC: i32 = 14;
pub const SNAP: i32 = 15;
pub const OBSERVERINFO: i32 = 16;
pub const LEADERINFO: i32 = 17;
pub const ACKEPOCH: i32 = 18;
/// ringkeeper's own: one part of a snapshot, with the snapshot's expected size in the zxid
/// field (the receiver reserves that much once; a leader streaming the tree as it serialises
/// it knows only an estimate); the SNAP packet that ends the parts carries the zxid.
pub const SNAP_PART: i32 = 1015;
/// Bytes of snapshot per packet.
pub const SNAP_PART_BYTES: usize = 1 << 20;

/// ZooKeeper's Zab protocol version (0x10000), sent in LearnerInfo and LEADERINFO.
pub const PROTOCOL_VERSION: i32 = 0x10000;

#[derive(Debug, Error)]
pub enum PacketError {
    #[error("quorum packet data of {0} bytes exceeds the limit of {1}")]
    TooLarge(i64, usize),
    #[error("quorum packet has a negative length {0}")]
    BadLength(i64),
    #[error("quorum packet type {typ} is not valid from a {from}")]
    Unexpected { typ: i32, from: &'static str },
    #[error("quorum packet type {typ}: data too short ({len} bytes)")]
    ShortData { typ: i32, len: usize },
    #[error("SNAP parts: {0}")]
    SnapParts(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumPacket {
    pub typ: i32,
    pub zxid: i64,
    pub data: Option<Vec<u8>>,
}

pub fn encode_packet(p: &QuorumPacket, out: &mut Vec<u8>) {
    put_packet(out, p.typ, p.zxid, p.data.as_deref());
}

/// Encodes `msg` as `to_packet` would, writing the steady-state messages (proposals,
/// commits, acks) straight into `out` rather than through a packet of their own.
pub fn encode_msg(msg: &Msg, me: Sid, out: &mut Vec<u8>) {
    match msg {
        Msg::Proposal { zxid, txn } => put_packet(out, PROPOSAL, *zxid, Some(txn)),
        Msg::Inform { zxid, txn } => put_packet(out, INFORM, *zxid, Some(txn)),
        Msg::Commit { zxid } => put_packet(out, COMMIT, *zxid, None),
        Msg::Ack { zxid } => put_packet(out, ACK, *zxid, None),
        Msg::Snap(s) => {
            for seg in snap_segments(s.zxid, &s.bytes, SNAP_PART_BYTES) {
                out.extend_from_slice(&seg);
            }
        }
        _ => encode_packet(&to_packet(msg, me), out),
    }
}

/// A snapshot as the byte segments of its packets: SNAP_PART packets of `part` bytes, then
/// SNAP with the rest (one SNAP packet when it fits in a part). The data segments are slices
/// of `bytes`, not copies.
pub fn snap_segments(zxid: i64, bytes: &bytes::Bytes, part: usize) -> Vec<bytes::Bytes> {
    let part = part.max(1);
    let mut segs = Vec::with_capacity(3 * bytes.len().div_ceil(part) + 3);
    let mut at = 0;
    while bytes.len() - at > part {
        segs.extend(snap_packet(
            SNAP_PART,
            bytes.len() as i64,
            bytes.slice(at..at + part),
        ));
        at += part;
    }
    segs.extend(snap_packet(SNAP, zxid, bytes.slice(at..)));
    segs
}

/// One SNAP or SNAP_PART packet as segments: its header, `data` as it is, its (empty)
/// authinfo.
pub fn snap_packet(typ: i32, zxid: i64, data: bytes::Bytes) -> Vec<bytes::Bytes> {
    let mut head = Vec::with_capacity(16);
    head.extend_from_slice(&typ.to_be_bytes());
    head.extend_from_slice(&zxid.to_be_bytes());
    head.extend_from_slice(&(data.len() as i32).to_be_bytes());
    vec![head.into(), data, bytes::Bytes::from_static(&NO_AUTHINFO)]
}

const NO_AUTHINFO: [u8; 4] = (-1i32).to_be_bytes();

/// Turns the leader's packets into messages, gathering SNAP_PART packets until the SNAP that
/// ends them.
#[derive(Default)]
pub struct FromLeader {
    /// The parts so far, in room reserved for the expected size.
    snap: Option<Vec<u8>>,
}

impl FromLeader {
    /// The message `p` completes, if any.
    pub fn decode(&mut self, p: PacketView<'_>) -> Result<Option<Msg>, PacketError> {
        let data = p.data.unwrap_or_default();
        match p.typ {
            SNAP_PART => {
                let hint = usize::try_from(p.zxid)
                    .map_err(|_| PacketError::SnapParts(format!("expected size {}", p.zxid)))?;
                // The hint comes from the leader: a convenience, never a promise to allocate
                // whatever a damaged packet says.
                let buf = self
                    .snap
                    .get_or_insert_with(|| Vec::with_capacity(hint.min(1 << 30)));
                buf.extend_from_slice(data);
                Ok(None)
            }
            SNAP if self.snap.is_some() => {
                let mut buf = self.snap.take().expect("checked");
                buf.extend_from_slice(data);
                Ok(Some(Msg::Snap(SnapshotRef {
                    zxid: p.zxid,
                    bytes: buf.into(),
                })))
            }
            _ if self.snap.is_some() => Err(PacketError::SnapParts(format!(
                "packet type {} between the parts",
                p.typ
            ))),
            _ => from_leader(p).map(Some),
        }
    }
}

fn put_packet(out: &mut Vec<u8>, typ: i32, zxid: i64, data: Option<&[u8]>) {
    out.extend_from_slice(&typ.to_be_bytes());
    out.extend_from_slice(&zxid.to_be_bytes());
    match data {
        Some(d) => {
            out.extend_from_slice(&(d.len() as i32).to_be_bytes());
            out.extend_from_slice(d);
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
    // authinfo: ZooKeeper leaves it null except on REQUEST, where it never reads it back
    // for our purposes; an empty vector is what its learners send.
    out.extend_from_slice(&(-1i32).to_be_bytes());
}

/// Reads one packet. `max_data` bounds `data` (SNAP may need far more than the rest).
pub async fn read_packet<R: AsyncRead + Unpin>(
    r: &mut R,
    max_data: usize,
) -> Result<QuorumPacket, PacketError> {
    let typ = r.read_i32().await?;
    let zxid = r.read_i64().await?;
    let len = r.read_i32().await? as i64;
    let data = if len == -1 {
        None
    } else if len < 0 {
        return Err(PacketError::BadLength(len));
    } else if len as usize > max_data {
        return Err(PacketError::TooLarge(len, max_data));
    } else {
        let mut d = vec![0; len as usize];
        r.read_exact(&mut d).await?;
        Some(d)
    };
    let n = r.read_i32().await? as i64;
    if n > 0 {
        // Ids: two ustrings each. Skipped: authorisation travels inside the txns.
        for _ in 0..n {
            for _ in 0..2 {
                let l = r.read_i32().await? as i64;
                if l > 0 {
                    if l as usize > max_data {
                        return Err(PacketError::TooLarge(l, max_data));
                    }
                    let mut skip = vec![0; l as usize];
                    r.read_exact(&mut skip).await?;
                }
            }
        }
    }
    Ok(QuorumPacket { typ, zxid, data })
}

/// A packet's fields with its data borrowed from where it was read: the decoders copy
/// only what a message keeps (a proposal's txn once, straight into its `Arc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketView<'a> {
    pub typ: i32,
    pub zxid: i64,
    pub data: Option<&'a [u8]>,
}

impl QuorumPacket {
    pub fn view(&self) -> PacketView<'_> {
        PacketView {
            typ: self.typ,
            zxid: self.zxid,
            data: self.data.as_deref(),
        }
    }
}

/// Takes one whole packet off the front of `buf`: the packet and the bytes it used, `None`
/// while `buf` holds only part of one. The same checks as `read_packet`, for a reader that
/// gathers bytes from a non-blocking socket.
pub fn take_packet(
    buf: &[u8],
    max_data: usize,
) -> Result<Option<(PacketView<'_>, usize)>, PacketError> {
    let i32_at = |at: usize| -> Option<i64> {
        buf.get(at..at + 4)
            .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")) as i64)
    };
    // A length field's bytes, checked against the limit before anything waits on it.
    let sized = |l: i64| -> Result<usize, PacketError> {
        if l < 0 {
            Err(PacketError::BadLength(l))
        } else if l as usize > max_data {
            Err(PacketError::TooLarge(l, max_data))
        } else {
            Ok(l as usize)
        }
    };
    let Some(len) = i32_at(12) else {
        return Ok(None);
    };
    let typ = i32_at(0).expect("before the length") as i32;
    let zxid = i64::from_be_bytes(buf[4..12].try_into().expect("8 bytes"));
    let mut at = 16;
    let data = if len == -1 {
        None
    } else {
        let n = sized(len)?;
        if buf.len() < at + n {
            return Ok(None);
        }
        at += n;
        Some(&buf[at - n..at])
    };
    let Some(ids) = i32_at(at) else {
        return Ok(None);
    };
    at += 4;
    for _ in 0..ids.max(0) * 2 {
        let Some(l) = i32_at(at) else {
            return Ok(None);
        };
        at += 4;
        if l > 0 {
            at += sized(l)?;
            if buf.len() < at {
                return Ok(None);
            }
        }
    }
    Ok(Some((PacketView { typ, zxid, data }, at)))
}

fn packet(typ: i32, zxid: i64, data: Option<Vec<u8>>) -> QuorumPacket {
    QuorumPacket { typ, zxid, data }
}

/// The packet for `msg`, sent by server `me`.
pub fn to_packet(msg: &Msg, me: Sid) -> QuorumPacket {
    match msg {
        Msg::FollowerInfo {
            accepted_epoch,
            observer,
        } => {
            let mut d = Vec::with_capacity(20);
            d.extend_from_slice(&me.to_be_bytes());
            d.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
            d.extend_from_slice(&0i64.to_be_bytes()); // config version
            let typ = if *observer {
                OBSERVERINFO
            } else {
                FOLLOWERINFO
            };
            packet(typ, make_zxid(*accepted_epoch, 0), Some(d))
        }
        Msg::AckEpoch {
            last_zxid,
            current_epoch,
        } => packet(
            ACKEPOCH,
            *last_zxid,
            Some((*current_epoch as i32).to_be_bytes().to_vec()),
        ),
        Msg::Ack { zxid } => packet(ACK, *zxid, None),
        Msg::PingReply { touches } => {
            let mut d = Vec::with_capacity(touches.len() * 12);
            for (session, timeout) in touches {
                d.extend_from_slice(&session.to_be_bytes());
                d.extend_from_slice(&timeout.to_be_bytes());
            }
            packet(PING, 0, Some(d))
        }
        Msg::Request {
            session_id,
            cxid,
            op,
            body,
        } => {
            let mut d = Vec::with_capacity(16 + body.len());
            d.extend_from_slice(&session_id.to_be_bytes());
            d.extend_from_slice(&cxid.to_be_bytes());
            d.extend_from_slice(&op.to_be_bytes());
            d.extend_from_slice(body);
            packet(REQUEST, -1, Some(d))
        }
        Msg::Revalidate {
            session_id,
            timeout_ms,
        } => {
            let mut d = Vec::with_capacity(12);
            d.extend_from_slice(&session_id.to_be_bytes());
            d.extend_from_slice(&timeout_ms.to_be_bytes());
            packet(REVALIDATE, -1, Some(d))
        }
        Msg::LeaderInfo { new_epoch } => packet(
            LEADERINFO,
            make_zxid(*new_epoch, 0),
            Some(PROTOCOL_VERSION.to_be_bytes().to_vec()),
        ),
        Msg::Diff { zxid } => packet(DIFF, *zxid, None),
        Msg::Trunc { zxid } => packet(TRUNC, *zxid, None),
        Msg::Snap(s) => packet(SNAP, s.zxid, Some(s.bytes.to_vec())),
        Msg::Proposal { zxid, txn } => packet(PROPOSAL, *zxid, Some(txn.to_vec())),
        Msg::Commit { zxid } => packet(COMMIT, *zxid, None),
        Msg::Inform { zxid, txn } => packet(INFORM, *zxid, Some(txn.to_vec())),
        Msg::NewLeader { zxid } => packet(NEWLEADER, *zxid, Some(Vec::new())),
        Msg::UpToDate => packet(UPTODATE, -1, None),
        Msg::Ping => packet(PING, -1, None),
        Msg::SyncDone { zxid } => packet(SYNC, *zxid, None),
        Msg::RevalidateReply { session_id, valid } => {
            let mut d = Vec::with_capacity(9);
            d.extend_from_slice(&session_id.to_be_bytes());
            d.push(u8::from(*valid));
            packet(REVALIDATE, -1, Some(d))
        }
    }
}

fn need<'a>(p: &PacketView<'a>, n: usize) -> Result<&'a [u8], PacketError> {
    let d = p.data.unwrap_or_default();
    if d.len() < n {
        return Err(PacketError::ShortData {
            typ: p.typ,
            len: d.len(),
        });
    }
    Ok(d)
}

fn i64_at(d: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(d[at..at + 8].try_into().expect("8 bytes"))
}

fn i32_at(d: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(d[at..at + 4].try_into().expect("4 bytes"))
}

/// A packet a learner sent to its leader. FOLLOWERINFO also yields the sender's sid.
pub fn from_learner(p: PacketView<'_>) -> Result<(Msg, Option<Sid>), PacketError> {
    let epoch = p.zxid >> 32;
    Ok(match p.typ {
        FOLLOWERINFO | OBSERVERINFO => {
            let d = need(&p, 8)?;
            let sid = i64_at(d, 0);
            let msg = Msg::FollowerInfo {
                accepted_epoch: epoch,
                observer: p.typ == OBSERVERINFO,
            };
            (msg, Some(sid))
        }
        ACKEPOCH => {
            let d = need(&p, 4)?;
            let msg = Msg::AckEpoch {
                last_zxid: p.zxid,
                current_epoch: i32_at(d, 0) as i64,
            };
            (msg, None)
        }
        ACK => (Msg::Ack { zxid: p.zxid }, None),
        PING => {
            let d = p.data.unwrap_or_default();
            let touches = d
                .chunks_exact(12)
                .map(|c| (i64_at(c, 0), i32_at(c, 8)))
                .collect();
            (Msg::PingReply { touches }, None)
        }
        REQUEST => {
            let d = need(&p, 16)?;
            let msg = Msg::Request {
                session_id: i64_at(d, 0),
                cxid: i32_at(d, 8),
                op: i32_at(d, 12),
                body: Arc::from(&d[16..]),
            };
            (msg, None)
        }
        REVALIDATE => {
            let d = need(&p, 12)?;
            let msg = Msg::Revalidate {
                session_id: i64_at(d, 0),
                timeout_ms: i32_at(d, 8),
            };
            (msg, None)
        }
        typ => {
            return Err(PacketError::Unexpected {
                typ,
                from: "learner",
            })
        }
    })
}

/// A packet the leader sent to a learner.
pub fn from_leader(p: PacketView<'_>) -> Result<Msg, PacketError> {
    Ok(match p.typ {
        LEADERINFO => Msg::LeaderInfo {
            new_epoch: p.zxid >> 32,
        },
        DIFF => Msg::Diff { zxid: p.zxid },
        TRUNC => Msg::Trunc { zxid: p.zxid },
        SNAP => Msg::Snap(SnapshotRef {
            zxid: p.zxid,
            bytes: bytes::Bytes::copy_from_slice(p.data.unwrap_or_default()),
        }),
        PROPOSAL => Msg::Proposal {
            zxid: p.zxid,
            txn: Arc::from(p.data.unwrap_or_default()),
        },
        COMMIT => Msg::Commit { zxid: p.zxid },
        INFORM => Msg::Inform {
            zxid: p.zxid,
            txn: Arc::from(p.data.unwrap_or_default()),
        },
        NEWLEADER => Msg::NewLeader { zxid: p.zxid },
        UPTODATE => Msg::UpToDate,
        PING => Msg::Ping,
        SYNC => Msg::SyncDone { zxid: p.zxid },
        REVALIDATE => {
            let d = need(&p, 9)?;
            Msg::RevalidateReply {
                session_id: i64_at(d, 0),
                valid: d[8] != 0,
            }
        }
        typ => {
            return Err(PacketError::Unexpected {
                typ,
                from: "leader",
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(msg: Msg, from_leader_side: bool) -> Msg {
        let mut bytes = Vec::new();
        encode_packet(&to_packet(&msg, 7), &mut bytes);
        let mut direct = Vec::new();
        encode_msg(&msg, 7, &mut direct);
        assert_eq!(direct, bytes, "encode_msg and to_packet agree on {msg:?}");
        // Two packets back to back: the reader must stop exactly at the boundary.
        let copy = bytes.clone();
        bytes.extend_from_slice(&copy);
        let mut r = &bytes[..];
        let p1 = read_packet(&mut r, 1 << 20).await.unwrap();
        let p2 = read_packet(&mut r, 1 << 20).await.unwrap();
        assert_eq!(p1, p2);
        assert!(r.is_empty());
        // The non-blocking reader's framing: nothing until the first packet is whole, then
        // exactly its bytes.
        let one = bytes.len() / 2;
        for cut in 0..one {
            assert!(take_packet(&bytes[..cut], 1 << 20).unwrap().is_none());
        }
        assert_eq!(
            take_packet(&bytes, 1 << 20).unwrap(),
            Some((p1.view(), one))
        );
        if from_leader_side {
            from_leader(p1.view()).unwrap()
        } else {
            let (m, sid) = from_learner(p1.view()).unwrap();
            if matches!(m, Msg::FollowerInfo { .. }) {
                assert_eq!(sid, Some(7));
            }
            m
        }
    }

    #[tokio::test]
    async fn every_message_round_trips() {
        let txn: Arc<[u8]> = Arc::from(&b"txn-bytes"[..]);
        let from_learners = [
            Msg::FollowerInfo {
                accepted_epoch: 3,
                observer: false,
            },
            Msg::FollowerInfo {
                accepted_epoch: 3,
                observer: true,
            },
            Msg::AckEpoch {
                last_zxid: 0x3_0000_0009,
                current_epoch: -1,
            },
            Msg::Ack {
                zxid: 0x4_0000_0001,
            },
            Msg::PingReply {
                touches: vec![(0x1234, 30_000), (0x99, 4_000)],
            },
            Msg::Request {
                session_id: 0x55,
                cxid: 9,
                op: 1,
                body: txn.clone(),
            },
            Msg::Revalidate {
                session_id: 0x55,
                timeout_ms: 6000,
            },
        ];
        for m in from_learners {
            assert_eq!(round_trip(m.clone(), false).await, m);
        }
        let from_leaders = [
            Msg::LeaderInfo { new_epoch: 4 },
            Msg::Diff { zxid: 0x10 },
            Msg::Trunc { zxid: 0x11 },
            Msg::Snap(SnapshotRef {
                zxid: 0x12,
                bytes: bytes::Bytes::copy_from_slice(&txn),
            }),
            Msg::Proposal {
                zxid: 0x13,
                txn: txn.clone(),
            },
            Msg::Commit { zxid: 0x13 },
            Msg::Inform {
                zxid: 0x14,
                txn: txn.clone(),
            },
            Msg::NewLeader {
                zxid: 0x4_0000_0000,
            },
            Msg::UpToDate,
            Msg::Ping,
            Msg::SyncDone {
                zxid: 0x5_0000_0007,
            },
            Msg::RevalidateReply {
                session_id: 0x55,
                valid: true,
            },
        ];
        for m in from_leaders {
            assert_eq!(round_trip(m.clone(), true).await, m);
        }
    }

    #[tokio::test]
    async fn bad_packets_are_errors() {
        let mut b = Vec::new();
        encode_packet(&packet(PROPOSAL, 1, Some(vec![0; 100])), &mut b);
        assert!(matches!(
            read_packet(&mut &b[..], 10).await,
            Err(PacketError::TooLarge(100, 10))
        ));
        assert!(matches!(
            from_leader(packet(ACK, 1, None).view()),
            Err(PacketError::Unexpected { typ: ACK, .. })
        ));
        assert!(matches!(
            from_learner(packet(ACKEPOCH, 1, Some(vec![1])).view()),
            Err(PacketError::ShortData {
                typ: ACKEPOCH,
                len: 1
            })
        ));
        let truncated = &b[..20];
        assert!(matches!(
            read_packet(&mut &truncated[..], 1000).await,
            Err(PacketError::Io(_))
        ));
        // The framer refuses an oversized or negative length as soon as it sees it.
        assert!(matches!(
            take_packet(&b[..16], 10),
            Err(PacketError::TooLarge(100, 10))
        ));
        let mut neg = b[..16].to_vec();
        neg[12..16].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(
            take_packet(&neg, 1000),
            Err(PacketError::BadLength(-5))
        ));
    }

    /// Auth ids after the data (ZooKeeper's learners may send some) are skipped by both
    /// readers alike, and an oversized one is refused.
    #[tokio::test]
    async fn auth_ids_are_skipped() {
        let mut b = Vec::new();
        b.extend_from_slice(&PING.to_be_bytes());
        b.extend_from_slice(&5i64.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        for s in ["digest", "u:p"] {
            b.extend_from_slice(&(s.len() as i32).to_be_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        let whole = read_packet(&mut &b[..], 100).await.unwrap();
        assert_eq!(take_packet(&b, 100).unwrap(), Some((whole.view(), b.len())));
        assert!(take_packet(&b[..b.len() - 1], 100).unwrap().is_none());
        assert!(matches!(
            take_packet(&b, 3),
            Err(PacketError::TooLarge(6, 3))
        ));
    }

    /// The packets `snap_segments` makes, read back one at a time.
    fn packets_of(segs: &[bytes::Bytes]) -> Vec<(i32, i64, Vec<u8>)> {
        let wire: Vec<u8> = segs.iter().flat_map(|s| s.iter().copied()).collect();
        let mut at = 0;
        let mut out = Vec::new();
        while at < wire.len() {
            let (p, used) = take_packet(&wire[at..], 1 << 20)
                .unwrap()
                .expect("whole packets");
            out.push((p.typ, p.zxid, p.data.unwrap_or_default().to_vec()));
            at += used;
        }
        out
    }

    /// Snapshots of every size around a part's: SNAP_PART packets announcing the total, then
    /// one SNAP with the rest and the zxid; gathered back, the same bytes.
    #[test]
    fn a_snapshot_splits_into_parts_and_gathers_back() {
        let part = 7;
        for len in [0usize, 1, 6, 7, 8, 13, 14, 15, 3 * 7 + 5] {
            let bytes: bytes::Bytes = (0..len).map(|i| i as u8).collect::<Vec<u8>>().into();
            let packets = packets_of(&snap_segments(0x99, &bytes, part));
            let parts = len.max(1).div_ceil(part);
            assert_eq!(packets.len(), parts, "len {len}");
            for (typ, zxid, data) in &packets[..parts - 1] {
                assert_eq!((*typ, *zxid, data.len()), (SNAP_PART, len as i64, part));
            }
            let (typ, zxid, _) = packets.last().unwrap();
            assert_eq!((*typ, *zxid), (SNAP, 0x99));
            let mut from = FromLeader::default();
            let mut got = Vec::new();
            for (typ, zxid, data) in &packets {
                let view = PacketView {
                    typ: *typ,
                    zxid: *zxid,
                    data: Some(data),
                };
                if let Some(m) = from.decode(view).unwrap() {
                    got.push(m);
                }
            }
            let want = Msg::Snap(SnapshotRef { zxid: 0x99, bytes });
            assert_eq!(got, vec![want], "len {len}");
        }
    }

    /// A negative expected size, or another packet before the SNAP that ends the parts,
    /// closes the link rather than load a damaged tree.
    #[test]
    fn damaged_snapshot_parts_are_refused() {
        let bytes: bytes::Bytes = vec![5u8; 20].into();
        let packets = packets_of(&snap_segments(0x99, &bytes, 8));
        fn view(p: &(i32, i64, Vec<u8>)) -> PacketView<'_> {
            PacketView {
                typ: p.0,
                zxid: p.1,
                data: Some(&p.2[..]),
            }
        }
        let mut negative = packets[0].clone();
        negative.1 = -3;
        assert!(matches!(
            FromLeader::default().decode(view(&negative)),
            Err(PacketError::SnapParts(_))
        ));
        let mut interleaved = FromLeader::default();
        assert!(interleaved.decode(view(&packets[0])).unwrap().is_none());
        let ping = (PING, -1, Vec::new());
        assert!(matches!(
            interleaved.decode(view(&ping)),
            Err(PacketError::SnapParts(_))
        ));
    }
}
