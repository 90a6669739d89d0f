//! zkCli's output formats and error wording (ZooKeeper 3.8: StatPrinter, GetAclCommand,
//! AclParser, CliWrapperException, KeeperException.getMessage, WatchedEvent.toString).

use crate::client::{acl, Acl, ClientError, ErrorCode, EventType, Id, Stat};

/// `new java.util.Date(ms).toString()`: `EEE MMM dd HH:mm:ss zzz yyyy` in the local zone.
pub fn java_date(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%a %b %d %H:%M:%S %Z %Y")
            .to_string(),
        // Out of jiff's range (a corrupt stat); show the raw figure rather than fail.
        Err(_) => format!("{ms} ms since the epoch"),
    }
}

/// The eleven `name = value` lines zkCli prints for a Stat.
pub fn stat_lines(s: &Stat) -> String {
    format!(
        "cZxid = {:#x}\nctime = {}\nmZxid = {:#x}\nmtime = {}\npZxid = {:#x}\ncversion = {}\n\
         dataVersion = {}\naclVersion = {}\nephemeralOwner = {:#x}\ndataLength = {}\nnumChildren = {}",
        s.czxid,
        java_date(s.ctime),
        s.mzxid,
        java_date(s.mtime),
        s.pzxid,
        s.cversion,
        s.version,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children
    )
}

/// Node data as zkCli prints it: the bytes as (lossy) UTF-8, `null` for no data.
pub fn data_text(data: Option<&[u8]>) -> String {
    match data {
        Some(d) => String::from_utf8_lossy(d).into_owned(),
        None => "null".into(),
    }
}

/// `[a, b]`, as Java prints a list.
pub fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// Permission letters in zkCli's order: c d r w a.
pub fn perm_string(perms: i32) -> String {
    [
        (acl::CREATE, 'c'),
        (acl::DELETE, 'd'),
        (acl::READ, 'r'),
        (acl::WRITE, 'w'),
        (acl::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(bit, _)| perms & bit != 0)
    .map(|(_, c)| *c)
    .collect()
}

/// `'scheme,'id` then `: perms`, per entry.
pub fn acl_lines(acls: &[Acl]) -> String {
    acls.iter()
        .map(|a| format!("'{},'{}\n: {}", a.id.scheme, a.id.id, perm_string(a.perms)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// zkCli's AclParser: `scheme:id:perm[,scheme:id:perm...]`, the id being everything between
/// the first and the last colon. Malformed entries are skipped with a warning (as zkCli
/// does); the caller refuses an empty result.
pub fn parse_acl(s: &str, warnings: &mut Vec<String>) -> Vec<Acl> {
    let mut out = Vec::new();
    for entry in s.split(',') {
        let (Some(first), Some(last)) = (entry.find(':'), entry.rfind(':')) else {
            warnings.push(format!("{entry} does not have the form scheme:id:perm"));
            continue;
        };
        if first == last {
            warnings.push(format!("{entry} does not have the form scheme:id:perm"));
            continue;
        }
        let mut perms = 0;
        for c in entry[last + 1..].chars() {
            perms |= match c {
                'r' => acl::READ,
                'w' => acl::WRITE,
                'c' => acl::CREATE,
                'd' => acl::DELETE,
                'a' => acl::ADMIN,
                other => {
                    warnings.push(format!("Unknown perm type: {other}"));
                    0
                }
            };
        }
        out.push(Acl {
            perms,
            id: Id {
                scheme: entry[..first].into(),
                id: entry[first + 1..last].into(),
            },
        });
    }
    out
}

/// A server error on `path` in zkCli 3.8's words (CliWrapperException for the common
/// codes, `KeeperErrorCode = ... for path` for the rest).
pub fn keeper_message(code: ErrorCode, path: &str) -> String {
    use ErrorCode::*;
    match code {
        NoNode => format!("Node does not exist: {path}"),
        NoChildrenForEphemerals => format!("Ephemerals cannot have children: {path}"),
        NodeExists => format!("Node already exists: {path}"),
        NotEmpty => format!("Node not empty: {path}"),
        NotReadOnly => format!("Not a read-only call: {path}"),
        InvalidAcl => format!("Acl is not valid : {path}"),
        NoAuth => format!("Insufficient permission : {path}"),
        BadArguments => format!("Arguments are not valid : {path}"),
        BadVersion => format!("version No is not valid : {path}"),
        other if path.is_empty() => format!("KeeperErrorCode = {}", other.message()),
        other => format!("KeeperErrorCode = {} for {path}", other.message()),
    }
}

/// Any client error on `path`, worded as the Java client's exceptions are.
pub fn client_error_message(e: &ClientError, path: &str) -> String {
    match e {
        ClientError::Keeper(code) => keeper_message(*code, path),
        ClientError::ConnectionLoss => format!("KeeperErrorCode = ConnectionLoss for {path}"),
        ClientError::SessionExpired => format!("KeeperErrorCode = Session expired for {path}"),
        ClientError::UnknownCode(c) => format!("KeeperErrorCode = Unknown error {c} for {path}"),
        other => format!("{other} (on {path})"),
    }
}

/// Event types the Java client reports, including the ones it makes up locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    None,
    Node(EventType),
    DataWatchRemoved,
    ChildWatchRemoved,
    PersistentWatchRemoved,
}

fn kind_name(k: EventKind) -> String {
    match k {
        EventKind::None => "None".into(),
        EventKind::Node(EventType::NodeCreated) => "NodeCreated".into(),
        EventKind::Node(EventType::NodeDeleted) => "NodeDeleted".into(),
        EventKind::Node(EventType::NodeDataChanged) => "NodeDataChanged".into(),
        EventKind::Node(EventType::NodeChildrenChanged) => "NodeChildrenChanged".into(),
        EventKind::Node(EventType::Other(c)) => format!("Unknown({c})"),
        EventKind::DataWatchRemoved => "DataWatchRemoved".into(),
        EventKind::ChildWatchRemoved => "ChildWatchRemoved".into(),
        EventKind::PersistentWatchRemoved => "PersistentWatchRemoved".into(),
    }
}

/// What zkCli's watcher prints for an event (`state` is SyncConnected, Disconnected,
/// Expired, AuthFailed or Closed); `path` None prints as `null`.
pub fn watcher_message(state: &str, kind: EventKind, path: Option<&str>) -> String {
    format!(
        "\nWATCHER::\n\nWatchedEvent state:{state} type:{} path:{}",
        kind_name(kind),
        path.unwrap_or("null")
    )
}

/// PathUtils.validatePath's checks and wording; a sequential create may end in `/`.
pub fn validate_path(path: &str, sequential: bool) -> Result<(), String> {
    if path.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') && !sequential {
        return Err("Path must not end with / character".into());
    }
    let body = if sequential {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    let mut offset = 1;
    for seg in body[1..].split('/') {
        let reason = if seg.is_empty() {
            Some("empty node name specified")
        } else if seg == "." || seg == ".." {
            Some("relative paths not allowed")
        } else if seg.contains('\0') {
            Some("null character not allowed")
        } else {
            None
        };
        if let Some(r) = reason {
            return Err(format!(
                "Invalid path string \"{path}\" caused by {r} @{offset}"
            ));
        }
        offset += seg.len() + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_date_match_zkcli() {
        let s = Stat {
            czxid: 2,
            mzxid: 0xf,
            ctime: 0,
            mtime: 0,
            version: 2,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 2,
            num_children: 1,
            pzxid: 0x13,
        };
        let text = stat_lines(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[0], "cZxid = 0x2");
        assert_eq!(lines[2], "mZxid = 0xf");
        assert_eq!(lines[4], "pZxid = 0x13");
        assert_eq!(lines[8], "ephemeralOwner = 0x0");
        // The Java format, in whatever zone the machine has.
        let d = &lines[1]["ctime = ".len()..];
        let parts: Vec<&str> = d.split(' ').collect();
        assert_eq!(parts.len(), 6, "{d}");
        assert!(parts[0] == "Thu" || parts[0] == "Wed", "{d}");
        if std::env::var("TZ").is_ok_and(|t| t == "UTC") {
            assert_eq!(d, "Thu Jan 01 00:00:00 UTC 1970");
        }
    }

    #[test]
    fn acl_parse_and_print() {
        let mut w = Vec::new();
        let acls = parse_acl("world:anyone:cdrwa,digest:u:hash=:r,ip:1.2.3.4:rw", &mut w);
        assert!(w.is_empty());
        assert_eq!(acls.len(), 3);
        assert_eq!(acls[1].id.id, "u:hash=");
        assert_eq!(
            acl_lines(&acls),
            "'world,'anyone\n: cdrwa\n'digest,'u:hash=\n: r\n'ip,'1.2.3.4\n: rw"
        );
        let acls = parse_acl("bad", &mut w);
        assert!(acls.is_empty());
        assert_eq!(w, vec!["bad does not have the form scheme:id:perm"]);
    }

    #[test]
    fn wording() {
        assert_eq!(
            keeper_message(ErrorCode::NoNode, "/x"),
            "Node does not exist: /x"
        );
        assert_eq!(
            keeper_message(ErrorCode::NoWatcher, "/n"),
            "KeeperErrorCode = No such watcher for /n"
        );
        assert_eq!(
            watcher_message(
                "SyncConnected",
                EventKind::Node(EventType::NodeDataChanged),
                Some("/x")
            ),
            "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/x"
        );
    }

    #[test]
    fn paths() {
        assert!(validate_path("/", false).is_ok());
        assert!(validate_path("/a/b", false).is_ok());
        assert!(validate_path("/a/", true).is_ok());
        assert_eq!(
            validate_path("a", false).unwrap_err(),
            "Path must start with / character"
        );
        assert_eq!(
            validate_path("/a/", false).unwrap_err(),
            "Path must not end with / character"
        );
        assert_eq!(
            validate_path("/a//b", false).unwrap_err(),
            "Invalid path string \"/a//b\" caused by empty node name specified @3"
        );
    }
}
