//! The admin server and the Prometheus endpoint: HTTP/1.1 (hyper) on one thread of their
//! own with a current-thread runtime, so operator traffic never runs on a net core.
//!
//! ZooKeeper keeps serving clients when its admin server cannot bind (it logs the problem),
//! but refuses to start when its metrics provider cannot; we do the same.

use std::convert::Infallible;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::core::CoreShared;
use super::{admin, inspect, prometheus};

#[derive(Clone, Copy)]
enum Endpoint {
    Admin,
    Metrics,
}

/// Binds the configured listeners now (so a taken metrics port fails the start with its
/// address) and serves them on a new thread.
pub fn spawn(shared: Arc<CoreShared>) -> Result<()> {
    let mut listeners = Vec::new();
    if let Some(addr) = shared.settings.admin_addr {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => {
                tracing::info!(
                    "admin server on http://{addr}{}",
                    shared.settings.admin_command_url
                );
                listeners.push((l, Endpoint::Admin));
            }
            Err(e) => tracing::warn!(
                "admin server not started: cannot listen on {addr}: {e}; clients are served \
                 anyway (set admin.serverPort, or admin.enableServer=false)"
            ),
        }
    }
    if let Some(addr) = shared.settings.metrics_addr {
        let l = std::net::TcpListener::bind(addr).with_context(|| {
            format!("metrics endpoint: cannot listen on {addr} (metricsProvider.httpPort)")
        })?;
        tracing::info!("Prometheus metrics on http://{addr}/metrics");
        listeners.push((l, Endpoint::Metrics));
    }
    if listeners.is_empty() {
        return Ok(());
    }
    for (l, _) in &listeners {
        l.set_nonblocking(true)?;
    }
    std::thread::Builder::new()
        .name("rk-http".into())
        .spawn(move || serve(shared, listeners))?;
    Ok(())
}

fn serve(shared: Arc<CoreShared>, listeners: Vec<(std::net::TcpListener, Endpoint)>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building the HTTP runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut tasks = Vec::new();
        for (l, ep) in listeners {
            let shared = shared.clone();
            tasks.push(tokio::task::spawn_local(accept_loop(shared, l, ep)));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}

async fn accept_loop(shared: Arc<CoreShared>, l: std::net::TcpListener, ep: Endpoint) {
    let l = match tokio::net::TcpListener::from_std(l) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("HTTP listener could not be registered: {e}");
            return;
        }
    };
    loop {
        let (stream, _) = match l.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("HTTP accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::task::spawn_local(async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, ep, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn query_arg<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

async fn handle(
    shared: &CoreShared,
    ep: Endpoint,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    match ep {
        Endpoint::Metrics if path == "/metrics" => {
            match inspect::gather(&shared.mailboxes, inspect::Detail::Counts).await {
                Ok(r) => reply(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    prometheus::render(shared, &r),
                ),
                Err(e) => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    format!("{e}\n"),
                ),
            }
        }
        Endpoint::Metrics => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: the metrics are at /metrics\n".into(),
        ),
        Endpoint::Admin => {
            let base = shared.settings.admin_command_url.as_str();
            let Some(rest) = path.strip_prefix(base) else {
                return reply(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    format!("not found: the admin commands are under {base}\n"),
                );
            };
            let name = rest.trim_start_matches('/').trim_end_matches('/');
            if name.is_empty() {
                return reply(StatusCode::OK, "text/html", admin::index_html(base));
            }
            let a = admin::run(shared, name, query_arg(req.uri().query(), "traceMask")).await;
            let body = serde_json::to_string_pretty(&a.body).unwrap_or_default() + "\n";
            let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
            reply(status, "application/json", body)
        }
    }
}
