//! Connect strings (`host:port,host:port/chroot`) and the chroot mapping of paths.

use crate::client::error::{ClientError, Result};

/// A parsed connect string: the hosts to try and the chroot every path lives under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectString {
    pub hosts: Vec<String>,
    pub chroot: Chroot,
}

impl ConnectString {
    /// Parses `host:port[,host:port...][/chroot]`. A host without a port gets 2181, as in
    /// ZooKeeper's `ConnectStringParser`.
    pub fn parse(s: &str) -> Result<ConnectString> {
        let bad = |why: &str| ClientError::BadArguments(format!("connect string {s:?}: {why}"));
        let (hosts_part, chroot) = match s.find('/') {
            Some(i) => (&s[..i], Chroot::new(&s[i..]).map_err(|e| bad(&e))?),
            None => (s, Chroot::none()),
        };
        let mut hosts = Vec::new();
        for h in hosts_part.split(',') {
            let h = h.trim();
            if h.is_empty() {
                return Err(bad("empty host"));
            }
            match h.rsplit_once(':') {
                Some((host, port)) => {
                    if host.is_empty() || port.parse::<u16>().is_err() {
                        return Err(bad(&format!("bad host:port {h:?}")));
                    }
                    hosts.push(h.to_string());
                }
                None => hosts.push(format!("{h}:2181")),
            }
        }
        Ok(ConnectString { hosts, chroot })
    }
}

/// The chroot prefix ("" for none). Paths the caller gives are relative to it; paths the
/// server returns (created names, event paths) are mapped back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chroot(String);

impl Chroot {
    pub fn none() -> Chroot {
        Chroot(String::new())
    }

    /// `"/"` means no chroot; otherwise an absolute path without a trailing slash.
    pub fn new(p: &str) -> std::result::Result<Chroot, String> {
        if p == "/" {
            return Ok(Chroot::none());
        }
        if !p.starts_with('/') || p.ends_with('/') || p.contains("//") {
            return Err(format!("bad chroot {p:?}"));
        }
        Ok(Chroot(p.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The server-side path of a client path. `"/"` maps to the chroot itself.
    pub fn to_server(&self, path: &str) -> String {
        if self.0.is_empty() {
            path.to_string()
        } else if path == "/" {
            self.0.clone()
        } else {
            format!("{}{}", self.0, path)
        }
    }

    /// The client-side path of a server path; paths outside the chroot are returned
    /// unchanged (the server never sends them for our own requests).
    pub fn to_client(&self, path: &str) -> String {
        if self.0.is_empty() {
            return path.to_string();
        }
        match path.strip_prefix(self.0.as_str()) {
            Some("") => "/".to_string(),
            Some(rest) if rest.starts_with('/') => rest.to_string(),
            _ => path.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_chroot() {
        let c = ConnectString::parse("a:1,b:2/app/x").unwrap();
        assert_eq!(c.hosts, vec!["a:1", "b:2"]);
        assert_eq!(c.chroot.as_str(), "/app/x");
        let c = ConnectString::parse("a").unwrap();
        assert_eq!(c.hosts, vec!["a:2181"]);
        assert_eq!(c.chroot, Chroot::none());
        assert_eq!(ConnectString::parse("a:1/").unwrap().chroot, Chroot::none());
    }

    #[test]
    fn rejects_bad_strings() {
        for s in ["", "a:1,", "a:x", ":1", "a:1/x/", "a:1/x//y"] {
            assert!(ConnectString::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn maps_paths_both_ways() {
        let c = Chroot::new("/app").unwrap();
        assert_eq!(c.to_server("/"), "/app");
        assert_eq!(c.to_server("/a/b"), "/app/a/b");
        assert_eq!(c.to_client("/app"), "/");
        assert_eq!(c.to_client("/app/a"), "/a");
        assert_eq!(c.to_client("/apple"), "/apple");
        let n = Chroot::none();
        assert_eq!(n.to_server("/a"), "/a");
        assert_eq!(n.to_client("/a"), "/a");
    }
}
