//! The embedded DNS server: each container on a user-defined network gets a resolver at
//! 127.0.0.11:53 (UDP and TCP) in its own namespace. The sockets are bound there by a
//! short-lived thread that enters the namespace, and served by the daemon's runtime:
//! the DNS names (name, aliases, short id, hostname) of running containers on a user network of the asker's
//! are answered; everything else is relayed to the container's `--dns` servers or the
//! host's. The servers end with the container (and come back after a daemon restart).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_network::dns::{self, RCODE_SERVFAIL};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::AbortHandle;

use crate::engine::Engine;
use crate::error::{Error, Result};

/// Where the resolver listens inside a container, as in Docker.
pub(crate) const RESOLVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// A running resolver: its serving tasks and what it answers for.
type Resolver = (Vec<AbortHandle>, Arc<Scope>);

/// Each container's resolver.
#[derive(Default)]
pub(crate) struct DnsServers {
    running: Mutex<HashMap<String, Resolver>>,
}

impl Engine {
    /// Binds the resolver's sockets in the namespace at `netns` and serves them. Blocking
    /// (called on a blocking thread of the daemon's runtime).
    pub(crate) fn start_dns(&self, id: &str, netns: &Path, scope: Scope) -> Result<()> {
        let ns = std::fs::File::open(netns).map_err(|e| Error::internal(netns.display(), e))?;
        let (udp, tcp) = std::thread::spawn(move || -> std::io::Result<_> {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
            let udp = std::net::UdpSocket::bind((RESOLVER, 53))?;
            let tcp = std::net::TcpListener::bind((RESOLVER, 53))?;
            udp.set_nonblocking(true)?;
            tcp.set_nonblocking(true)?;
            Ok((udp, tcp))
        })
        .join()
        .map_err(|_| Error::Internal("the resolver thread panicked".into()))?
        .map_err(|e| Error::internal("bind the container's resolver at 127.0.0.11:53", e))?;
        let handle = tokio::runtime::Handle::current();
        let _in_runtime = handle.enter();
        let udp =
            tokio::net::UdpSocket::from_std(udp).map_err(|e| Error::internal("resolver", e))?;
        let tcp =
            tokio::net::TcpListener::from_std(tcp).map_err(|e| Error::internal("resolver", e))?;
        let scope = Arc::new(scope);
        let tasks = vec![
            handle
                .spawn(serve_udp(self.arc(), udp, scope.clone()))
                .abort_handle(),
            handle
                .spawn(serve_tcp(self.arc(), tcp, scope.clone()))
                .abort_handle(),
        ];
        if let Some((old, _)) = self
            .dns
            .running
            .lock()
            .expect("dns lock")
            .insert(id.to_string(), (tasks, scope))
        {
            old.iter().for_each(AbortHandle::abort);
        }
        tracing::debug!(id, "resolver at 127.0.0.11:53");
        Ok(())
    }

    /// Stops a container's resolver (its sockets close with the tasks).
    pub(crate) fn stop_dns(&self, id: &str) {
        if let Some((tasks, _)) = self.dns.running.lock().expect("dns lock").remove(id) {
            tasks.iter().for_each(AbortHandle::abort);
        }
    }

    /// A running container joined or left a user network: its resolver follows. Whether it
    /// has one (a container started without one gets one when it joins: the caller starts
    /// it; one that leaves its last user network keeps it, as in Docker).
    pub(crate) fn dns_scope_changed(&self, id: &str, network: &str, joined: bool) -> bool {
        let running = self.dns.running.lock().expect("dns lock");
        let Some((_, scope)) = running.get(id) else {
            return false;
        };
        let mut nets = scope.networks.lock().expect("scope lock");
        nets.retain(|n| n != network);
        if joined {
            nets.push(network.to_string());
        }
        true
    }

    /// The addresses `name` has on the networks of `scope`: running containers on them, by
    /// any of their DNS names (name, alias, short id, hostname), bare or qualified with the
    /// network's name (`web.mynet`), as Docker's resolver answers.
    fn dns_lookup(&self, scope: &Scope, name: &str) -> Vec<Ipv4Addr> {
        let shared = scope.networks.lock().expect("scope lock").clone();
        let reg = self.registry.lock().expect("registry lock");
        let mut out = Vec::new();
        for e in reg.by_id.values().filter(|e| e.running()) {
            let rec = &e.record;
            for (network_name, ep) in &rec.state.endpoints {
                if !ep.network_id.as_ref().is_some_and(|n| shared.contains(n)) {
                    continue;
                }
                let bare = unqualified(name, network_name);
                let known = crate::containers::dns_names(rec, ep)
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(bare));
                if let Some(ip) = ep.ip_address.as_deref().and_then(|i| i.parse().ok())
                    && known
                    && !out.contains(&ip)
                {
                    out.push(ip);
                }
            }
        }
        out
    }
}

/// `name` without a trailing `.<network>` (any case); `name` itself when it has none.
fn unqualified<'a>(name: &'a str, network: &str) -> &'a str {
    name.len()
        .checked_sub(network.len() + 1)
        .filter(|&dot| {
            name.as_bytes()[dot] == b'.' && name[dot + 1..].eq_ignore_ascii_case(network)
        })
        .map_or(name, |dot| &name[..dot])
}

/// What one container's resolver answers for: the user-defined networks it is on (given at
/// its start, not read from its record, which is written only after its program runs and
/// may ask at once; then kept up to date by connect and disconnect), and where it relays
/// the rest.
pub(crate) struct Scope {
    pub networks: Mutex<Vec<String>>,
    pub upstreams: Vec<Ipv4Addr>,
}

/// The reply to one query: ours, an upstream's, or SERVFAIL.
async fn reply(engine: &Engine, scope: &Scope, query: &[u8]) -> Option<Vec<u8>> {
    let q = dns::parse_question(query)?;
    let ips = engine.dns_lookup(scope, &q.name);
    if !ips.is_empty() {
        return Some(dns::answer(query, &q, &ips));
    }
    for up in &scope.upstreams {
        if let Some(r) = forward(query, SocketAddr::from((*up, 53))).await {
            return Some(r);
        }
    }
    Some(dns::error(query, &q, RCODE_SERVFAIL))
}

/// Relays a query over UDP from the daemon's own namespace.
async fn forward(query: &[u8], to: SocketAddr) -> Option<Vec<u8>> {
    let sock = tokio::net::UdpSocket::bind(("0.0.0.0", 0)).await.ok()?;
    sock.send_to(query, to).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(UPSTREAM_TIMEOUT, sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

async fn serve_udp(engine: Arc<Engine>, sock: tokio::net::UdpSocket, scope: Arc<Scope>) {
    let sock = Arc::new(sock);
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            return;
        };
        let query = buf[..n].to_vec();
        let (engine, sock, scope) = (engine.clone(), sock.clone(), scope.clone());
        tokio::spawn(async move {
            if let Some(r) = reply(&engine, &scope, &query).await {
                let _ = sock.send_to(&r, from).await;
            }
        });
    }
}

async fn serve_tcp(engine: Arc<Engine>, listener: tokio::net::TcpListener, scope: Arc<Scope>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            return;
        };
        let (engine, scope) = (engine.clone(), scope.clone());
        tokio::spawn(async move {
            // Length-prefixed messages, one after another, until the client closes.
            loop {
                let Ok(len) = conn.read_u16().await else {
                    return;
                };
                let mut query = vec![0u8; len as usize];
                if conn.read_exact(&mut query).await.is_err() {
                    return;
                }
                let Some(r) = reply(&engine, &scope, &query).await else {
                    return;
                };
                let mut framed = (r.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&r);
                if conn.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::unqualified;

    #[test]
    fn the_network_suffix_is_dropped() {
        assert_eq!(unqualified("web.mynet", "mynet"), "web");
        assert_eq!(unqualified("WEB.MyNet", "mynet"), "WEB");
        assert_eq!(unqualified("my.ctr.testnet", "testnet"), "my.ctr");
        assert_eq!(unqualified("web", "mynet"), "web");
        assert_eq!(unqualified("webmynet", "mynet"), "webmynet");
        assert_eq!(unqualified(".mynet", "mynet"), "");
    }
}
