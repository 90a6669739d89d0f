//! The admin server's commands (ZooKeeper's `org.apache.zookeeper.server.admin.Commands`):
//! names and aliases, and the JSON each returns. Every response carries `command` (the
//! primary name) and `error` (null on success), as ZooKeeper's CommandResponse does.

use std::sync::atomic::Ordering;

use serde_json::{json, Map, Value as Json};

use super::core::CoreShared;
use super::fourlw;
use super::inspect::{self, ServerReport};
use super::values;
use crate::proto::opcode;

/// (primary name, aliases). The order is the one `/commands` lists them in (sorted).
pub const COMMANDS: [(&str, &[&str]); 21] = [
    ("configuration", &["conf", "config"]),
    ("connection_stat_reset", &["crst"]),
    ("connections", &["cons"]),
    ("dirs", &[]),
    ("dump", &[]),
    ("environment", &["env", "envi"]),
    ("get_trace_mask", &["gtmk"]),
    ("hash", &[]),
    ("initial_configuration", &["icfg"]),
    ("is_read_only", &["isro"]),
    ("leader", &["lead"]),
    ("monitor", &["mntr"]),
    ("ruok", &[]),
    ("server_stats", &["srvr"]),
    ("set_trace_mask", &["stmk"]),
    ("stat_reset", &["srst"]),
    ("stats", &["stat"]),
    ("voting_view", &[]),
    ("watch_summary", &["wchs"]),
    ("watches", &["wchc"]),
    ("watches_by_path", &["wchp"]),
];

/// The primary name for a name or alias.
pub fn primary(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|(p, aliases)| *p == name || aliases.contains(&name))
        .map(|(p, _)| *p)
}

/// An answer: HTTP status and JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Json,
}

fn respond(command: &str, mut fields: Map<String, Json>, error: Option<String>) -> Answer {
    fields.insert("command".into(), command.into());
    fields.insert("error".into(), error.map_or(Json::Null, Json::from));
    Answer {
        status: 200,
        body: Json::Object(fields),
    }
}

fn obj(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

fn connection_info(c: &inspect::ConnInfo) -> Json {
    let st = &c.stats;
    let (llat, minlat, avglat, maxlat) = st.latency_ms();
    let lop = st.last_op.load(Ordering::Relaxed);
    json!({
        "remote_socket_address": st.remote.to_string(),
        "interest_ops": 1,
        "outstanding_requests": c.queued,
        "packets_received": st.received.load(Ordering::Relaxed),
        "packets_sent": st.sent.load(Ordering::Relaxed),
        "session_id": st.session.load(Ordering::Relaxed),
        "last_operation": if lop < 0 { "NA" } else { opcode::short_name(lop) },
        "established": st.established_ms,
        "session_timeout": st.timeout_ms.load(Ordering::Relaxed),
        "last_cxid": st.last_cxid.load(Ordering::Relaxed),
        "last_zxid": st.last_zxid.load(Ordering::Relaxed),
        "last_response_time": st.last_response_ms.load(Ordering::Relaxed),
        "last_latency": llat,
        "min_latency": minlat,
        "avg_latency": avglat,
        "max_latency": maxlat,
    })
}

fn server_stats(shared: &CoreShared, r: &ServerReport) -> Map<String, Json> {
    let st = &shared.stats;
    let (min, avg, max) = shared.metrics.latency_ms();
    let view = r.view();
    obj(json!({
        "version": values::full_version(),
        "read_only": false,
        "server_stats": {
            "packets_sent": st.sent.load(Ordering::Relaxed),
            "packets_received": st.received.load(Ordering::Relaxed),
            "data_dir_size": values::dir_size(&shared.settings.data_dir),
            "log_dir_size": values::dir_size(&shared.settings.data_log_dir),
            "server_state": shared.consensus.role.get().name(),
            "last_processed_zxid": view.map_or(0, |v| v.last_zxid()),
            "outstanding_requests": shared.consensus.outstanding.load(Ordering::Relaxed),
            "avg_latency": avg,
            "max_latency": max,
            "min_latency": min,
            "num_alive_client_connections": r.conns().count(),
            "auth_failed_count": st.auth_failed.load(Ordering::Relaxed),
            "uptime": st.started.elapsed().as_millis() as u64,
        },
        "node_count": view.map_or(0, |v| v.node_count()),
    }))
}

async fn dump(shared: &CoreShared, r: &ServerReport) -> Result<Map<String, Json>, String> {
    let list = inspect::sessions(&shared.to_consensus)
        .await
        .map_err(|e| e.to_string())?;
    let tick = shared.settings.tick_time_ms.max(1) as i64;
    let mut expiry = Map::new();
    let mut buckets: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (id, _, in_ms) in &list.sessions {
        let at = list.now_wall_ms + *in_ms as i64;
        buckets
            .entry((at + tick - 1) / tick * tick)
            .or_default()
            .push(*id);
    }
    for (at, ids) in buckets {
        expiry.insert(at.to_string(), ids.into());
    }
    let mut eph = Map::new();
    for (id, paths) in r
        .view()
        .map(|v| v.ephemerals_by_session())
        .unwrap_or_default()
    {
        eph.insert(id.to_string(), paths.into());
    }
    Ok(obj(json!({
        "expiry_time_to_session_ids": expiry,
        "session_id_to_ephemeral_paths": eph,
    })))
}

/// Runs `name` (a primary name or an alias); `trace_mask` is the `traceMask` query
/// argument of `set_trace_mask`.
pub async fn run(shared: &CoreShared, name: &str, trace_mask: Option<&str>) -> Answer {
    let Some(cmd) = primary(name) else {
        // ZooKeeper 3.9 answers an unknown command with 404 (3.8 said 200).
        let mut a = respond(name, Map::new(), Some(format!("Unknown command: {name}")));
        a.status = 404;
        return a;
    };
    let detail = match cmd {
        "watch_summary" => inspect::Detail::Paths,
        "watches" | "watches_by_path" => inspect::Detail::Watches,
        _ => inspect::Detail::Counts,
    };
    let report = match inspect::gather(&shared.mailboxes, detail).await {
        Ok(r) => r,
        Err(e) => {
            let mut a = respond(cmd, Map::new(), Some(e.to_string()));
            a.status = 503;
            return a;
        }
    };
    let r = &report;
    let fields: Result<Map<String, Json>, String> = match cmd {
        "ruok" => Ok(Map::new()),
        "configuration" => Ok(values::conf(shared)
            .into_iter()
            .filter(|(_, k, _)| !k.is_empty())
            .map(|(_, k, v)| (k.to_string(), v.json()))
            .collect()),
        "connection_stat_reset" => {
            fourlw::reset_connections(r);
            Ok(Map::new())
        }
        "connections" => Ok(obj(json!({
            "connections": r.conns().map(connection_info).collect::<Vec<_>>(),
            "secure_connections": [],
        }))),
        "dirs" => Ok(obj(json!({
            "datadir_size": values::dir_size(&shared.settings.data_dir),
            "logdir_size": values::dir_size(&shared.settings.data_log_dir),
        }))),
        "dump" => dump(shared, r).await,
        "environment" => Ok(values::environment()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect()),
        "get_trace_mask" => Ok(obj(json!({
            "tracemask": shared.trace_mask.load(Ordering::Relaxed)
        }))),
        "set_trace_mask" => match trace_mask.map(str::parse::<i64>) {
            None => Err("setTraceMask requires long traceMask argument".to_string()),
            Some(Err(_)) => Err(format!(
                "setTraceMask requires long traceMask argument, got {}",
                trace_mask.unwrap_or_default()
            )),
            Some(Ok(m)) => {
                shared.trace_mask.store(m, Ordering::Relaxed);
                Ok(obj(json!({ "tracemask": m })))
            }
        },
        // No tree digests are computed (see the `hash` word).
        "hash" => Ok(obj(json!({ "digests": [] }))),
        "initial_configuration" => Ok(obj(json!({
            "initial_configuration": initial_configuration(shared),
        }))),
        "is_read_only" => Ok(obj(json!({ "read_only": false }))),
        // As ZooKeeper answers on a server that is not part of a quorum.
        "leader" => Err("server is not initialized".to_string()),
        "monitor" => Ok(values::monitor(shared, r)
            .into_iter()
            .map(|(k, v)| (k, v.json()))
            .collect()),
        "server_stats" => Ok(server_stats(shared, r)),
        "stats" => {
            let mut m = server_stats(shared, r);
            m.insert(
                "connections".into(),
                r.conns().map(connection_info).collect::<Vec<_>>().into(),
            );
            Ok(m)
        }
        "stat_reset" => {
            shared.stats.reset();
            shared.metrics.reset_requests();
            Ok(Map::new())
        }
        "voting_view" => Ok(obj(json!({ "current_config": {} }))),
        "watch_summary" => {
            let (c, p, t) = r.watch_summary();
            Ok(obj(json!({
                "num_connections": c,
                "num_paths": p,
                "num_total_watches": t,
            })))
        }
        "watches" => Ok(obj(json!({
            "session_id_to_watched_paths": r
                .data_watches_by_session()
                .into_iter()
                .map(|(id, paths)| {
                    let paths: Vec<&str> = paths.iter().map(|p| &**p).collect();
                    (id.to_string(), json!(paths))
                })
                .collect::<Map<_, _>>(),
        }))),
        "watches_by_path" => Ok(obj(json!({
            "path_to_session_ids": r
                .data_watches_by_path()
                .into_iter()
                .map(|(path, ids)| (path.to_string(), json!(ids)))
                .collect::<Map<_, _>>(),
        }))),
        other => Err(format!(
            "{other} is not available in this ringkeeper version"
        )),
    };
    match fields {
        Ok(f) => respond(cmd, f, None),
        Err(e) => respond(cmd, Map::new(), Some(e)),
    }
}

/// The config file's text as the server read it (ZooKeeper returns its initial config).
fn initial_configuration(shared: &CoreShared) -> String {
    shared.settings.config_text.clone()
}

/// `/commands`: links to every command, as ZooKeeper's admin server lists them.
pub fn index_html(command_url: &str) -> String {
    COMMANDS
        .iter()
        .map(|(p, _)| format!("<a href=\"{command_url}/{p}\">{p}</a>\n<br/>\n"))
        .collect()
}
