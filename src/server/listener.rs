//! Client port listeners: one per net core, sharing the port with SO_REUSEPORT so the
//! kernel spreads connections across cores.

use std::net::{SocketAddr, TcpListener};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};

fn socket_for(addr: SocketAddr) -> Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    Ok(s)
}

/// Fails if anything already listens on `addr`. SO_REUSEPORT would otherwise let a second
/// server quietly share the port with the first.
pub fn check_free(addr: SocketAddr) -> Result<()> {
    let s = socket_for(addr)?;
    s.bind(&addr.into())
        .with_context(|| format!("clientPort {addr} is already in use"))?;
    Ok(())
}

/// Binds `n` listeners on `addr`.
pub fn bind(addr: SocketAddr, n: usize) -> Result<Vec<TcpListener>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let s = socket_for(addr)?;
        s.set_reuse_port(true)?;
        s.bind(&addr.into())
            .with_context(|| format!("binding clientPort {addr}"))?;
        s.listen(1024)?;
        s.set_nonblocking(true)?;
        out.push(s.into());
    }
    Ok(out)
}

/// Raises the soft limit on open files to the hard one, as the JVM does for ZooKeeper: every
/// client connection holds a descriptor, and a default soft limit of 1024 would cap a server
/// at about a thousand clients. Returns the limit now in effect.
pub fn raise_open_files_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    if soft >= hard {
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            tracing::info!("open files limit raised from {soft} to {hard} (one per connection)");
            hard
        }
        Err(e) => {
            tracing::warn!("open files limit stays at {soft}: raising it to {hard} failed: {e}");
            soft
        }
    }
}
