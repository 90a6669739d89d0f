//! ACLs and authentication against the real binary (spec section 8): world, digest, auth
//! expansion, ip, the super digest, getACL masking, whoAmI, auth failures and skipACL.

mod common;

use common::{TestServer, SUPER_AUTH};
use ringkeeper::client::acl::{
    acl, creator_all, digest_id, open_unsafe, read_unsafe, ADMIN, ALL, CREATE, DELETE, READ, WRITE,
};
use ringkeeper::client::{Acl, Client, ClientError, CreateMode, ErrorCode, Op, OpResult};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// Bound on a whole test: a hang fails the test instead of stalling the suite.
const TEST_LIMIT: Duration = Duration::from_secs(60);

async fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_LIMIT, f)
        .await
        .expect("test did not finish within its time limit");
}

/// True when the harness runs Apache ZooKeeper (3.8.0 here) instead of ringkeeper.
fn reference() -> bool {
    std::env::var("RK_TEST_SERVER").as_deref() == Ok("reference")
}

fn keeper<V: std::fmt::Debug>(r: Result<V, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Keeper(c)) => c,
        other => panic!("expected a keeper error, got {other:?}"),
    }
}

async fn mk(c: &Client, path: &str, acl: &[Acl]) {
    c.create(path, b"data", acl, CreateMode::Persistent)
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
}

async fn authed(s: &TestServer, user_password: &str) -> Client {
    let c = s.client().await;
    c.add_auth("digest", user_password.as_bytes())
        .await
        .unwrap();
    c
}

fn bob_all() -> Vec<Acl> {
    vec![acl(ALL, "digest", &digest_id("bob", "secret"))]
}

fn who(infos: Vec<ringkeeper::client::ClientInfo>) -> Vec<(String, String)> {
    infos.into_iter().map(|i| (i.auth_scheme, i.user)).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn world_acl_permission_bits() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        mk(&c, "/ro", &read_unsafe()).await;
        assert_eq!(c.get_data("/ro", false).await.unwrap().0.unwrap(), b"data");
        assert_eq!(keeper(c.set_data("/ro", b"x", -1).await), ErrorCode::NoAuth);
        // CREATE is checked on the parent.
        assert_eq!(
            keeper(
                c.create("/ro/k", b"", &open_unsafe(), CreateMode::Persistent)
                    .await
            ),
            ErrorCode::NoAuth
        );
        assert_eq!(
            keeper(c.set_acl("/ro", &open_unsafe(), -1).await),
            ErrorCode::NoAuth
        );
        // getACL needs READ or ADMIN: READ suffices.
        assert_eq!(c.get_acl("/ro").await.unwrap().0, read_unsafe());

        // DELETE is checked on the parent, not the node.
        mk(&c, "/p", &open_unsafe()).await;
        mk(&c, "/p/k", &read_unsafe()).await;
        mk(&c, "/p/k2", &open_unsafe()).await;
        let world = |perms| vec![acl(perms, "world", "anyone")];
        c.set_acl("/p", &world(READ | CREATE | ADMIN), -1)
            .await
            .unwrap();
        assert_eq!(keeper(c.delete("/p/k2", -1).await), ErrorCode::NoAuth);
        mk(&c, "/p/k3", &open_unsafe()).await;
        c.set_acl("/p", &world(DELETE | ADMIN), -1).await.unwrap();
        c.delete("/p/k", -1).await.unwrap();
        // Without READ: no reads of any kind on the node; exists of a missing child is fine.
        assert_eq!(keeper(c.get_data("/p", false).await), ErrorCode::NoAuth);
        if !reference() {
            // ZOOKEEPER-2590 (3.8.4 / 3.9.2): exists of an existing node needs READ.
            // The installed 3.8.0 predates it.
            assert_eq!(keeper(c.exists("/p", false).await), ErrorCode::NoAuth);
        }
        assert_eq!(keeper(c.get_children("/p", false).await), ErrorCode::NoAuth);
        assert_eq!(
            keeper(c.get_children2("/p", false).await),
            ErrorCode::NoAuth
        );
        assert_eq!(
            keeper(c.get_all_children_number("/p").await),
            ErrorCode::NoAuth
        );
        assert_eq!(c.exists("/p/none", false).await.unwrap(), None);
        // ADMIN alone is enough for getACL.
        assert_eq!(c.get_acl("/p").await.unwrap().0, world(DELETE | ADMIN));
        // check inside a multi needs READ.
        assert_eq!(
            c.multi(vec![Op::check("/p", -1)]).await.unwrap(),
            vec![OpResult::Error(ErrorCode::NoAuth)]
        );
        c.set_acl("/p", &world(WRITE), -1).await.unwrap();
        c.set_data("/p", b"w", -1).await.unwrap();
        assert_eq!(keeper(c.get_acl("/p").await), ErrorCode::NoAuth);
        assert_eq!(
            keeper(c.set_acl("/p", &world(ALL), -1).await),
            ErrorCode::NoAuth
        );
    })
    .await
}

#[tokio::test]
async fn digest_auth_grants_access_to_digest_acls() {
    bounded(async {
        let s = TestServer::start();
        let bob = authed(&s, "bob:secret").await;
        mk(&bob, "/d", &bob_all()).await;
        assert_eq!(bob.get_data("/d", false).await.unwrap().0.unwrap(), b"data");
        bob.set_data("/d", b"b", -1).await.unwrap();

        let other = s.client().await;
        assert_eq!(keeper(other.get_data("/d", false).await), ErrorCode::NoAuth);
        assert_eq!(
            keeper(other.set_data("/d", b"x", -1).await),
            ErrorCode::NoAuth
        );
        // Digest auth always "succeeds"; a wrong password just yields a non-matching id.
        other.add_auth("digest", b"bob:wrong").await.unwrap();
        assert_eq!(keeper(other.get_data("/d", false).await), ErrorCode::NoAuth);
        other.add_auth("digest", b"bob:secret").await.unwrap();
        assert_eq!(other.get_data("/d", false).await.unwrap().0.unwrap(), b"b");
        other.set_data("/d", b"o", -1).await.unwrap();
        // Identities belong to the connection: a fresh one has none of them.
        let fresh = s.client().await;
        assert_eq!(keeper(fresh.get_data("/d", false).await), ErrorCode::NoAuth);
    })
    .await
}

#[tokio::test]
async fn auth_scheme_expands_to_the_connections_authenticated_ids() {
    bounded(async {
        let s = TestServer::start();
        let anon = s.client().await;
        assert_eq!(
            keeper(
                anon.create("/a", b"", &creator_all(), CreateMode::Persistent)
                    .await
            ),
            ErrorCode::InvalidAcl,
            "auth:: with only an ip identity"
        );
        let c = authed(&s, "bob:secret").await;
        c.add_auth("digest", b"alice:pw").await.unwrap();
        mk(&c, "/a", &creator_all()).await;
        let (got, _) = c.get_acl("/a").await.unwrap();
        let mut got = got;
        got.sort_by(|x, y| x.id.id.cmp(&y.id.id));
        assert_eq!(
            got,
            vec![
                acl(ALL, "digest", &digest_id("alice", "pw")),
                acl(ALL, "digest", &digest_id("bob", "secret")),
            ]
        );
        // setACL expands the same way; the id text after auth: is ignored.
        let c2 = authed(&s, "carol:pw").await;
        mk(&c2, "/b", &open_unsafe()).await;
        c2.set_acl("/b", &[acl(READ | ADMIN, "auth", "whatever")], -1)
            .await
            .unwrap();
        assert_eq!(
            c2.get_acl("/b").await.unwrap().0,
            vec![acl(READ | ADMIN, "digest", &digest_id("carol", "pw"))]
        );
        assert_eq!(keeper(anon.get_data("/b", false).await), ErrorCode::NoAuth);

        // Invalid entries.
        for bad in [
            acl(ALL, "world", "someone"),
            acl(ALL, "digest", "a:b:c"),
            acl(ALL, "digest", "user:"),
            acl(ALL, "digest", "nocolon"),
            acl(ALL, "ip", "300.0.0.1"),
            acl(ALL, "ip", "127.0.0.1/33"),
            acl(ALL, "nosuchscheme", "x"),
        ] {
            assert_eq!(
                keeper(
                    c.create(
                        "/bad",
                        b"",
                        std::slice::from_ref(&bad),
                        CreateMode::Persistent
                    )
                    .await
                ),
                ErrorCode::InvalidAcl,
                "{bad:?}"
            );
            assert_eq!(
                keeper(c.set_acl("/a", std::slice::from_ref(&bad), -1).await),
                ErrorCode::InvalidAcl,
                "setACL {bad:?}"
            );
        }
        // Exact duplicates collapse.
        let dup = [open_unsafe(), open_unsafe()].concat();
        mk(&c, "/dup", &dup).await;
        assert_eq!(c.get_acl("/dup").await.unwrap().0, open_unsafe());
    })
    .await
}

#[tokio::test]
async fn ip_acls_match_by_cidr() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let ip = |id: &str| vec![acl(ALL, "ip", id)];
        for (path, id, allowed) in [
            ("/exact", "127.0.0.1", true),
            ("/net8", "127.0.0.0/8", true),
            ("/net32", "127.0.0.1/32", true),
            ("/ten", "10.0.0.0/8", false),
            ("/other", "127.0.0.2", false),
            ("/v6", "::1", false),
        ] {
            if reference() && id.contains(':') {
                // 3.8.0's ip provider knows only IPv4 (InvalidACL); 3.9 accepts IPv6.
                continue;
            }
            mk(&c, path, &ip(id)).await;
            let r = c.get_data(path, false).await;
            if allowed {
                assert!(r.is_ok(), "{id}: {r:?}");
                c.set_data(path, b"x", -1).await.unwrap();
            } else {
                assert_eq!(keeper(r), ErrorCode::NoAuth, "{id}");
            }
        }
    })
    .await
}

#[tokio::test]
async fn super_digest_bypasses_every_acl() {
    bounded(async {
        let s = TestServer::start();
        let bob = authed(&s, "bob:secret").await;
        mk(&bob, "/s", &bob_all()).await;
        mk(&bob, "/s/k", &bob_all()).await;
        let nobody = s.client().await;
        let sup = s.client().await;
        assert_eq!(keeper(sup.get_data("/s", false).await), ErrorCode::NoAuth);
        sup.add_auth("digest", SUPER_AUTH).await.unwrap();
        let mut me = who(sup.who_am_i().await.unwrap());
        me.sort();
        assert_eq!(
            me,
            pairs(&[("digest", "super"), ("ip", "127.0.0.1"), ("super", "")])
        );
        assert_eq!(sup.get_data("/s", false).await.unwrap().0.unwrap(), b"data");
        sup.set_data("/s", b"su", -1).await.unwrap();
        mk(&sup, "/s/by-super", &open_unsafe()).await;
        sup.delete("/s/k", -1).await.unwrap();
        // Super sees digest ids unmasked (it passes the ADMIN check).
        assert_eq!(sup.get_acl("/s").await.unwrap().0, bob_all());
        sup.set_acl("/s", &read_unsafe(), -1).await.unwrap();
        assert_eq!(
            nobody.get_data("/s", false).await.unwrap().0.unwrap(),
            b"su"
        );
        // A wrong super password is just another digest identity.
        let fake = authed(&s, "super:wrong").await;
        mk(&bob, "/t", &bob_all()).await;
        assert_eq!(keeper(fake.get_data("/t", false).await), ErrorCode::NoAuth);
    })
    .await
}

#[tokio::test]
async fn get_acl_masks_digest_ids_without_admin() {
    bounded(async {
        let s = TestServer::start();
        let bob = authed(&s, "bob:secret").await;
        let node_acl = vec![
            acl(ALL, "digest", &digest_id("bob", "secret")),
            acl(READ, "digest", &digest_id("eve", "pw")),
            acl(READ, "world", "anyone"),
            acl(READ, "ip", "127.0.0.1"),
        ];
        mk(&bob, "/m", &node_acl).await;
        assert_eq!(
            bob.get_acl("/m").await.unwrap().0,
            node_acl,
            "ADMIN: unmasked"
        );
        let anon = s.client().await;
        let (masked, st) = anon.get_acl("/m").await.unwrap();
        assert_eq!(
            masked,
            vec![
                acl(ALL, "digest", "bob:x"),
                acl(READ, "digest", "eve:x"),
                acl(READ, "world", "anyone"),
                acl(READ, "ip", "127.0.0.1"),
            ]
        );
        assert_eq!(st, bob.get_acl("/m").await.unwrap().1);
    })
    .await
}

#[tokio::test]
async fn who_am_i_lists_ip_and_digest_identities() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        assert_eq!(
            who(c.who_am_i().await.unwrap()),
            pairs(&[("ip", "127.0.0.1")])
        );
        c.add_auth("digest", b"bob:secret").await.unwrap();
        c.add_auth("digest", b"alice:pw").await.unwrap();
        let mut got = who(c.who_am_i().await.unwrap());
        got.sort();
        assert_eq!(
            got,
            pairs(&[("digest", "alice"), ("digest", "bob"), ("ip", "127.0.0.1")])
        );
    })
    .await
}

#[tokio::test]
async fn unknown_auth_scheme_fails_and_closes_the_connection() {
    bounded(async {
        let s = TestServer::start();
        for scheme in ["nosuchscheme", "world", "super"] {
            let c = s.client().await;
            assert_eq!(
                keeper(c.add_auth(scheme, b"x").await),
                ErrorCode::AuthFailed,
                "{scheme}"
            );
            tokio::time::timeout(T, c.wait_disconnected())
                .await
                .unwrap_or_else(|_| panic!("connection stays open after AUTHFAILED ({scheme})"));
        }
        // The server is fine afterwards.
        let c = s.client().await;
        c.ping().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn skip_acl_yes_allows_everything() {
    bounded(async {
        let s = TestServer::start_with("skipACL=yes");
        let bob = authed(&s, "bob:secret").await;
        mk(&bob, "/locked", &bob_all()).await;
        mk(&bob, "/locked/k", &bob_all()).await;
        let anon = s.client().await;
        assert_eq!(
            anon.get_data("/locked", false).await.unwrap().0.unwrap(),
            b"data"
        );
        anon.set_data("/locked", b"anon", -1).await.unwrap();
        mk(&anon, "/locked/anon", &open_unsafe()).await;
        anon.delete("/locked/k", -1).await.unwrap();
        assert_eq!(anon.get_acl("/locked").await.unwrap().0.len(), 1);
        anon.set_acl("/locked", &read_unsafe(), -1).await.unwrap();
        anon.set_data("/locked", b"still", -1).await.unwrap();
    })
    .await
}
