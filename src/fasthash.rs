//! The hash maps on the request path, hashed with aHash instead of std's SipHash.
//!
//! Their keys come from clients and peers (paths, session ids, connection numbers), so the
//! hasher stays keyed per map with random keys, as std's is: crafted keys cannot force
//! collisions. aHash does that at a fraction of SipHash's cost, which was about 2% of a
//! saturated ensemble's CPU (perf/RESULTS.md).

/// `std::collections::HashMap` with aHash; build with `default()`.
pub type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
/// `std::collections::HashSet` with aHash; build with `default()`.
pub type HashSet<T> = std::collections::HashSet<T, ahash::RandomState>;
/// The data tree's persistent (copy-on-write) map with aHash.
pub type PersistentMap<K, V> =
    imbl::GenericHashMap<K, V, ahash::RandomState, imbl::shared_ptr::DefaultSharedPtr>;
