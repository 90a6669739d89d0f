//! Round trips over random trees, and every truncation and bit flip is caught.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::acl;
use crate::proto::opcode as op;
use crate::rng::Rng;
use crate::tree::DataTree;
use crate::txn::{self, CreateTxn, Txn, TxnBody, TxnHeader};

/// A random tree built by applying txns: null, empty and binary data, every owner kind,
/// several ACLs, setData/setACL versions, deletes and sessions.
pub(crate) fn random_tree(seed: u64, creates: usize) -> DataTree {
    let mut rng = Rng::new(seed);
    let mut t = DataTree::new();
    let mut zxid = 0;
    let mut paths: Vec<String> = vec!["/".into()];
    let acls = [
        acl::open_acl_unsafe(),
        acl::read_acl_unsafe(),
        vec![acl::acl(31, "digest", "bob:HUmZ6ok5dtqmD/ET0CY9LHdS7Ns=")],
        vec![
            acl::acl(1, "ip", "10.0.0.0/8"),
            acl::acl(31, "world", "anyone"),
        ],
    ];
    let mut apply = |t: &mut DataTree, session: i64, body: TxnBody| {
        zxid += 1;
        t.apply(&Txn {
            header: TxnHeader {
                session_id: session,
                cxid: 0,
                zxid,
                time: 1_700_000_000_000 + zxid,
            },
            body,
        })
    };
    let sessions = [0x100_0000_0001i64, 0x100_0000_0002, 0x2_0000_0003];
    for (i, s) in sessions.iter().enumerate() {
        apply(
            &mut t,
            *s,
            TxnBody::CreateSession {
                timeout_ms: 4000 + i as i32 * 1000,
            },
        );
    }
    for i in 0..creates {
        let parent = paths[rng.below(paths.len() as u64) as usize].clone();
        let Some(pnode) = t.get(&parent) else {
            continue;
        };
        if txn::is_ephemeral(pnode.stat.ephemeral_owner) {
            continue;
        }
        let path = if parent == "/" {
            format!("/n{i}")
        } else {
            format!("{parent}/n{i}")
        };
        let data = match rng.below(4) {
            0 => None,
            1 => Some(Bytes::new()),
            2 => Some(Bytes::from(
                (0..rng.below(300)).map(|b| b as u8).collect::<Vec<_>>(),
            )),
            _ => Some(Bytes::from(format!("value {i}"))),
        };
        let session = sessions[rng.below(3) as usize];
        let (opc, owner) = match rng.below(6) {
            0 => (op::CREATE2, session),
            1 => (op::CREATE_CONTAINER, txn::CONTAINER_EPHEMERAL_OWNER),
            2 => (
                op::CREATE_TTL,
                txn::ttl_ephemeral_owner(1 + rng.below(100_000) as i64),
            ),
            _ => (op::CREATE, 0),
        };
        let cv = pnode.stat.cversion + 1;
        apply(
            &mut t,
            session,
            TxnBody::Create(CreateTxn {
                op: opc,
                path: path.clone(),
                data,
                acl: acls[rng.below(acls.len() as u64) as usize].clone(),
                ephemeral_owner: owner,
                parent_cversion: cv,
            }),
        );
        paths.push(path.clone());
        match rng.below(8) {
            0 => {
                apply(
                    &mut t,
                    0,
                    TxnBody::SetData {
                        path: path.clone(),
                        data: Some(Bytes::from_static(b"\x00\xffbinary")),
                        version: 1 + rng.below(5) as i32,
                    },
                );
            }
            1 => {
                apply(
                    &mut t,
                    0,
                    TxnBody::SetAcl {
                        path: path.clone(),
                        acl: acls[2].clone(),
                        version: 3,
                    },
                );
            }
            2 if t.get(&path).is_some_and(|n| n.children.is_empty()) => {
                apply(
                    &mut t,
                    0,
                    TxnBody::Delete {
                        op: op::DELETE,
                        path: path.clone(),
                    },
                );
                paths.pop();
            }
            _ => {}
        }
    }
    t
}

/// Every stored and derived property of two trees is equal.
pub(crate) fn assert_same_tree(a: &DataTree, b: &DataTree) {
    assert_eq!(a.last_zxid(), b.last_zxid());
    assert_eq!(a.node_count(), b.node_count());
    assert_eq!(a.approximate_data_size(), b.approximate_data_size());
    let mut sa: Vec<_> = a.sessions().collect();
    let mut sb: Vec<_> = b.sessions().collect();
    sa.sort_unstable();
    sb.sort_unstable();
    assert_eq!(sa, sb);
    for (id, _) in &sa {
        assert_eq!(a.ephemerals_of(*id), b.ephemerals_of(*id));
    }
    assert_eq!(a.container_paths(), b.container_paths());
    assert_eq!(a.ttl_paths(), b.ttl_paths());
    let wa = a.walk();
    let wb = b.walk();
    assert_eq!(wa.len(), wb.len());
    for ((pa, na), (pb, nb)) in wa.iter().zip(&wb) {
        assert_eq!(pa, pb);
        assert_eq!(na.data, nb.data, "{pa}");
        assert_eq!(na.acl, nb.acl, "{pa}");
        assert_eq!(na.stat, nb.stat, "{pa}");
        assert_eq!(na.client_stat(), nb.client_stat(), "{pa}");
    }
}

fn write_to_vec(t: &DataTree) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let w = write_snapshot(d.path(), t).unwrap();
    assert_eq!(w.path, d.path().join(file_name(t.last_zxid())));
    let b = std::fs::read(&w.path).unwrap();
    assert_eq!(b.len() as u64, w.size_bytes);
    b
}

fn load_bytes(b: &[u8]) -> Result<DataTree, SnapError> {
    load_from(b, b.len() as u64)
}

#[test]
fn random_trees_round_trip() {
    for seed in 1..20u64 {
        let t = random_tree(seed * 0x9E37_79B9, 50 + seed as usize * 40);
        let b = write_to_vec(&t);
        let r = load_bytes(&b).unwrap();
        assert_same_tree(&t, &r);
        // Data kinds are all present in some tree: null stays null, empty stays empty.
        if seed == 1 {
            let walk = r.walk();
            assert!(walk.iter().any(|(_, n)| n.data.is_none()));
            assert!(walk
                .iter()
                .any(|(_, n)| n.data.as_ref().is_some_and(|d| d.is_empty())));
        }
    }
}

#[test]
fn many_nodes_span_many_chunks_and_share_acls() {
    let t = random_tree(42, 5000);
    let b = write_to_vec(&t);
    let r = load_bytes(&b).unwrap();
    assert_same_tree(&t, &r);
    let mut rd = SnapReader::open(&b[..], b.len() as u64).unwrap();
    assert!(
        rd.acls.len() <= 4 + 1,
        "ACL lists are interned: {}",
        rd.acls.len()
    );
    let mut n = 0;
    while rd.next_node().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, t.node_count());
    assert_eq!(rd.finish().unwrap().zxid, t.last_zxid());
    // Restored nodes with equal ACLs share one allocation.
    let shared = r
        .walk()
        .iter()
        .filter(|(_, n)| Arc::strong_count(&n.acl) > 2)
        .count();
    assert!(shared > 100);
}

#[test]
fn every_truncation_is_detected() {
    let t = random_tree(7, 60);
    let b = write_to_vec(&t);
    for cut in 0..b.len() {
        assert!(
            load_bytes(&b[..cut]).is_err(),
            "truncated to {cut} bytes loaded"
        );
    }
    let mut longer = b.clone();
    longer.push(0);
    assert!(load_bytes(&longer).is_err(), "trailing byte accepted");
}

#[test]
fn every_bit_flip_is_detected() {
    let t = random_tree(11, 40);
    let b = write_to_vec(&t);
    for i in 0..b.len() {
        for bit in 0..8 {
            let mut c = b.clone();
            c[i] ^= 1 << bit;
            assert!(
                load_bytes(&c).is_err(),
                "flip of bit {bit} in byte {i} loaded"
            );
        }
    }
}

#[test]
fn damage_is_located() {
    let t = random_tree(3, 3000);
    let mut b = write_to_vec(&t);
    let at = b.len() / 2;
    b[at] ^= 0x40;
    match load_bytes(&b) {
        Err(SnapError::Checksum { what, start, end }) => {
            assert!(what.starts_with("nodes "), "{what}");
            assert!(
                start <= at as u64 && (at as u64) < end,
                "{start}..{end} vs {at}"
            );
        }
        other => panic!("expected a chunk checksum error, got {other:?}"),
    }
}

#[test]
fn bounded_lengths_do_not_allocate() {
    // A header claiming 2^60 nodes in a short file is refused before reading on.
    let t = DataTree::new();
    let mut b = write_to_vec(&t);
    b[16..24].copy_from_slice(&(1u64 << 60).to_be_bytes());
    let crc = crc32c::crc32c(&b[..36]);
    b[36..40].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(load_bytes(&b), Err(SnapError::Invalid { .. })));
}

#[test]
fn names_and_listing() {
    assert_eq!(file_name(0x1_0000_002a), "snapshot.10000002a");
    assert_eq!(parse_file_name("snapshot.10000002a"), Some(0x1_0000_002a));
    assert_eq!(parse_file_name("snapshot.1.tmp"), None);
    assert_eq!(parse_file_name("snapshot."), None);
    let d = tempfile::tempdir().unwrap();
    for n in [
        "snapshot.a",
        "snapshot.1f",
        "snapshot.3",
        "snapshot.5.tmp",
        "log.1",
    ] {
        std::fs::write(d.path().join(n), b"x").unwrap();
    }
    let l: Vec<Zxid> = list(d.path()).unwrap().into_iter().map(|x| x.0).collect();
    assert_eq!(l, vec![0x1f, 0xa, 0x3]);
    assert_eq!(remove_stale_temp_files(d.path()).unwrap(), 1);
    assert!(!quick_check(&d.path().join("snapshot.a")));
}

/// A SNAP serialises into a buffer reserved up front: the reservation must hold the whole
/// snapshot (a buffer that has to grow doubles, holding two copies at once), without
/// reserving far more than it needs.
#[test]
fn the_room_reserved_for_a_snapshot_in_memory_holds_it() {
    for (seed, creates) in [(3, 200), (42, 5000), (9, 20_000)] {
        let t = random_tree(seed, creates);
        let room = size_hint(&t);
        let len = to_bytes(&t).unwrap().len();
        assert!(
            len <= room,
            "{creates} creates: {len} bytes in {room} reserved"
        );
        assert!(
            room <= len + len / 4 + (80 << 10),
            "{creates} creates: {room} reserved for {len} bytes"
        );
    }
}

/// A snapshot kept as the bytes it arrived in is the file `write_snapshot` would have made
/// of the tree loaded from them, and loads back to that tree.
#[test]
fn a_snapshot_kept_from_its_bytes_is_the_file_of_its_tree() {
    let t = random_tree(11, 3000);
    let bytes = to_bytes(&t).unwrap();
    let kept = tempfile::tempdir().unwrap();
    let w = write_snapshot_bytes(kept.path(), &t, &bytes).unwrap();
    assert_eq!(w.path, kept.path().join(file_name(t.last_zxid())));
    assert_eq!(
        (w.nodes, w.size_bytes),
        (t.node_count() as u64, bytes.len() as u64)
    );
    assert_eq!(std::fs::read(&w.path).unwrap(), write_to_vec(&t));
    assert_same_tree(&t, &load(&w.path).unwrap());
    assert_eq!(list(kept.path()).unwrap().len(), 1, "no temp file left");
}
