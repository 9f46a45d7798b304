//! `berth daemon`: the engine behind the Docker Engine API, with dockerd's flags.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_api::{Listener, TlsConfig};
use berth_engine::{Engine, EngineConfig, NetworkOptions};
use clap::Args;

mod heap;

const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// Where to listen: unix:///path or tcp://host:port (repeatable).
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// Serve TCP listeners over TLS (implied by --tlsverify).
    #[arg(long)]
    tls: bool,
    /// TLS, and require client certificates signed by --tlscacert.
    #[arg(long)]
    tlsverify: bool,
    /// The CA that client certificates must chain to.
    #[arg(long, value_name = "PATH")]
    tlscacert: Option<PathBuf>,
    /// The server's certificate.
    #[arg(long, value_name = "PATH")]
    tlscert: Option<PathBuf>,
    /// The server's private key.
    #[arg(long, value_name = "PATH")]
    tlskey: Option<PathBuf>,
    /// A registry (`host[:port]`) to reach over plain HTTP; repeatable. Loopback ones always are.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registries: Vec<String>,
    /// Persistent state: images, containers, logs.
    #[arg(long, default_value = "/var/lib/berth", value_name = "PATH")]
    data_root: PathBuf,
    /// Runtime state.
    #[arg(long, default_value = "/run/berth", value_name = "PATH")]
    exec_root: PathBuf,
    /// The daemon's pid file (default: <exec-root>/berth.pid).
    #[arg(short = 'p', long, value_name = "PATH")]
    pidfile: Option<PathBuf>,
    /// debug, info, warn, error or fatal.
    #[arg(short = 'l', long, default_value = "info", value_parser = ["debug", "info", "warn", "error", "fatal"])]
    log_level: String,
    /// Debug logging (as --log-level=debug).
    #[arg(short = 'D', long)]
    debug: bool,
    /// The default network's gateway address and subnet (e.g. 172.30.0.1/16); by default
    /// the first free subnet of the address pools.
    #[arg(long, value_name = "CIDR")]
    bip: Option<String>,
    /// `base=CIDR,size=N`: where subnets for networks come from (repeatable; Docker's
    /// 172.17-31.0.0/16 and 192.168.0.0/16 in /20s by default).
    #[arg(long = "default-address-pool", value_name = "base=CIDR,size=N", value_parser = parse_address_pool)]
    default_address_pools: Vec<(String, u8)>,
    /// The default network's Linux bridge: `berth0` with the default --data-root, else a
    /// name derived from the data root, so that daemons side by side never share one.
    #[arg(long, value_name = "NAME", value_parser = parse_bridge_name)]
    bridge_name: Option<String>,
}

/// `base=172.80.0.0/16,size=24`.
fn parse_address_pool(s: &str) -> Result<(String, u8), String> {
    let (mut base, mut size) = (None, None);
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("base", v)) => base = Some(v.to_string()),
            Some(("size", v)) => {
                size = Some(v.parse::<u8>().map_err(|_| format!("invalid size {v:?}"))?)
            }
            _ => return Err(format!("invalid pool part {part:?}: want base=CIDR,size=N")),
        }
    }
    match (base, size) {
        (Some(b), Some(n)) if n <= 30 => Ok((b, n)),
        _ => Err("want base=CIDR,size=N (size at most 30)".into()),
    }
}

fn parse_bridge_name(s: &str) -> Result<String, String> {
    if s.is_empty()
        || s.len() > 15
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("a bridge name has 1 to 15 letters, digits, '-' or '_'".into());
    }
    Ok(s.to_string())
}

/// The network flags as the engine takes them; the nft table is `berth` for `berth0`, else
/// named after the bridge.
fn network_options(args: &DaemonArgs) -> NetworkOptions {
    let bridge_name = args.bridge_name.clone().unwrap_or_else(|| {
        if args.data_root == Path::new("/var/lib/berth") {
            "berth0".into()
        } else {
            // FNV-1a of the data root: stable across restarts, distinct per root.
            let h = args
                .data_root
                .as_os_str()
                .as_encoded_bytes()
                .iter()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
                });
            format!("bth{:010x}", h & 0xff_ffff_ffff)
        }
    });
    let nft_table = if bridge_name == "berth0" {
        "berth".into()
    } else {
        bridge_name.replace('-', "_")
    };
    NetworkOptions {
        bridge_name,
        nft_table,
        bip: args.bip.clone(),
        default_address_pools: args.default_address_pools.clone(),
    }
}

pub fn main(args: DaemonArgs) -> i32 {
    // A client that goes away mid-write must cost an EPIPE, not the daemon.
    // SAFETY: changing a signal disposition before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    init_logging(&args);
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth daemon: {e}");
            1
        }
    }
}

fn init_logging(args: &DaemonArgs) {
    let level = if args.debug {
        tracing::Level::DEBUG
    } else {
        match args.log_level.as_str() {
            "debug" => tracing::Level::DEBUG,
            "warn" => tracing::Level::WARN,
            "error" | "fatal" => tracing::Level::ERROR,
            _ => tracing::Level::INFO,
        }
    };
    // netlink-packet-route warns about every kernel attribute newer than itself (IPv6
    // link settings on each link lookup): noise, not a problem of ours.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target("netlink_packet_route", tracing::Level::ERROR);
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .with(filter)
        .init();
}

fn run(args: DaemonArgs) -> Result<(), String> {
    let listeners = listeners(&args)?;
    std::fs::create_dir_all(&args.exec_root)
        .map_err(|e| format!("creating {}: {e}", args.exec_root.display()))?;
    let pidfile_path = args
        .pidfile
        .clone()
        .unwrap_or_else(|| args.exec_root.join("berth.pid"));
    let pidfile = PidFile::acquire(&pidfile_path)?;
    let result = serve(&args, listeners);
    pidfile.release();
    result
}

fn serve(args: &DaemonArgs, listeners: Vec<Listener>) -> Result<(), String> {
    heap::limit_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        // A burst (fifty starts at once) makes dozens of blocking threads; their stacks are
        // handed back a second after it instead of ten.
        .thread_keep_alive(Duration::from_secs(1))
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let result = runtime.block_on(async {
        let config = EngineConfig {
            data_root: args.data_root.clone(),
            exec_root: args.exec_root.clone(),
            insecure_registries: args.insecure_registries.clone(),
            network: network_options(args),
            berth_binary: std::env::current_exe()
                .map_err(|e| format!("finding the berth executable: {e}"))?,
        };
        let engine = Engine::open(config).map_err(|e| format!("opening the engine: {e}"))?;
        let shutdown = shutdown_signal().map_err(|e| format!("installing signal handlers: {e}"))?;
        tracing::info!("berth daemon {} started", env!("CARGO_PKG_VERSION"));
        tokio::spawn(heap::trim_forever());
        let served = berth_api::serve(engine.clone(), listeners, shutdown)
            .await
            .map_err(|e| e.to_string());
        engine.shutdown();
        served
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    tracing::info!("berth daemon stopped");
    result
}

/// Resolves on the first SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

fn listeners(args: &DaemonArgs) -> Result<Vec<Listener>, String> {
    let tls = args.tls || args.tlsverify;
    let tls_config = if tls {
        let cert = args
            .tlscert
            .clone()
            .ok_or("--tls needs --tlscert and --tlskey")?;
        let key = args
            .tlskey
            .clone()
            .ok_or("--tls needs --tlscert and --tlskey")?;
        if args.tlsverify && args.tlscacert.is_none() {
            return Err("--tlsverify needs --tlscacert".into());
        }
        Some(TlsConfig {
            ca: args.tlscacert.clone(),
            cert,
            key,
            verify_clients: args.tlsverify,
        })
    } else {
        None
    };
    let hosts = if args.hosts.is_empty() {
        vec![DEFAULT_HOST.to_owned()]
    } else {
        args.hosts.clone()
    };
    hosts
        .iter()
        .map(|h| parse_host(h, tls_config.as_ref()))
        .collect()
}

/// `unix:///path`, `tcp://host:port` (the port defaults to 2376 with TLS, 2375 without).
fn parse_host(host: &str, tls: Option<&TlsConfig>) -> Result<Listener, String> {
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(format!("invalid host {host:?}: no socket path"));
        }
        return Ok(Listener::Unix(PathBuf::from(path)));
    }
    if let Some(addr) = host.strip_prefix("tcp://") {
        let addr = addr.trim_end_matches('/');
        let default_port = if tls.is_some() { 2376 } else { 2375 };
        let (h, port) = match addr.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && !p.contains(']') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("invalid host {host:?}: bad port {p:?}"))?,
            ),
            _ => (addr, default_port),
        };
        let h = h.trim_start_matches('[').trim_end_matches(']');
        let h = if h.is_empty() { "0.0.0.0" } else { h };
        let addr: SocketAddr = (h, port)
            .to_socket_addrs()
            .map_err(|e| format!("invalid host {host:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("invalid host {host:?}: no address"))?;
        if tls.is_none() {
            tracing::warn!(
                "listening on {addr} without TLS: anyone who can reach it controls the host"
            );
        }
        return Ok(Listener::Tcp {
            addr,
            tls: tls.cloned(),
        });
    }
    Err(format!(
        "invalid host {host:?}: expected unix:///path or tcp://host:port"
    ))
}

/// The pid file, locked (flock) for the daemon's life: a second daemon finds it locked.
struct PidFile {
    path: PathBuf,
    file: File,
}

impl PidFile {
    fn acquire(path: &Path) -> Result<PidFile, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| format!("opening pid file {}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(format!(
                    "pid file {} is locked by a running daemon{}: is another berth daemon using this exec root?",
                    path.display(),
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    }
                ));
            }
            return Err(format!("locking pid file {}: {err}", path.display()));
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(|e| format!("writing pid file {}: {e}", path.display()))?;
        Ok(PidFile {
            path: path.to_owned(),
            file,
        })
    }

    /// Removes the file while still holding the lock, then lets go of it.
    fn release(self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!("removing {}: {e}", self.path.display());
        }
        drop(self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        match parse_host("unix:///run/x.sock", None).unwrap() {
            Listener::Unix(p) => assert_eq!(p, PathBuf::from("/run/x.sock")),
            l => panic!("{l:?}"),
        }
        match parse_host("tcp://127.0.0.1:2999", None).unwrap() {
            Listener::Tcp { addr, tls } => {
                assert_eq!(addr, "127.0.0.1:2999".parse().unwrap());
                assert!(tls.is_none());
            }
            l => panic!("{l:?}"),
        }
        match parse_host("tcp://[::1]:2999", None).unwrap() {
            Listener::Tcp { addr, .. } => assert_eq!(addr, "[::1]:2999".parse().unwrap()),
            l => panic!("{l:?}"),
        }
        match parse_host("tcp://127.0.0.1", None).unwrap() {
            Listener::Tcp { addr, .. } => assert_eq!(addr.port(), 2375),
            l => panic!("{l:?}"),
        }
        assert!(parse_host("fd://", None).is_err());
        assert!(parse_host("unix://", None).is_err());
        assert!(parse_host("tcp://1.2.3.4:x", None).is_err());
    }
}
