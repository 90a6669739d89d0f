//! ringkeeper: a ZooKeeper-compatible coordination server.
//!
//! Follow a request from socket to disk and back:
//! - `server/`    net cores: accept, frame, decode (`proto/`), serve reads from the core's
//!   tree view, queue writes per session, fire watches (`watch`), write replies.
//! - `consensus/` the consensus core: `prep` turns a request into a `txn::Txn`, the log stage
//!   (`storage/`) makes it durable with group commit, then it is applied to the `tree/` and
//!   the replies and watch events are posted to every net core's mailbox in commit order.
//! - `session`    session tracker and expiry buckets (on the consensus core).
//! - `client/`    an async client: `Client` (one connection; tests and tools) and `ZooKeeper`
//!   (`client/session/`: a reconnecting session with chroot, watch streams and retries).
//! - `cli/`       `ringkeeper cli`, the zkCli-compatible shell over `client/`.
//! - `recipes/`   locks, read/write lock, semaphore, queues, barriers, election, registry,
//!   config watch, load balancing, counter, naming; kazoo-compatible where kazoo has a twin.
//! - `quorum/`    the ensemble's election and Zab machines, wire formats and connections.
//! - `tools/`     log/snapshot dump and verify, purge, and the Apache ZooKeeper importer.

// `unsafe` is allowed only in `storage::uring`, each block with a `// SAFETY:` comment.
#![deny(unsafe_code)]

pub mod acl;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod consensus;
pub mod doorbell;
pub mod fasthash;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod prep;
pub mod proto;
pub mod quorum;
pub mod recipes;
pub mod rng;
pub mod server;
pub mod service;
pub mod session;
pub mod settings;
pub mod storage;
pub mod tools;
pub mod tree;
pub mod txn;
pub mod watch;
