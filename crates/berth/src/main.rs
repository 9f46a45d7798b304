//! `berth`: the command line: `berth oci`, the runc-compatible runtime, and the docker-compatible
//! client verbs (`run`, `ps`, `images`, ...), which talk to the daemon over the Engine API.

// berth starts as a C program does (see berth_oci::startup).
#![cfg_attr(not(test), no_main)]

mod cli;
mod client;
mod daemon;
mod deferred;
mod monitor;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::deferred::Deferred;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A fast, Docker-compatible container engine"
)]
struct Cli {
    /// Daemon socket to connect to (unix:///path or tcp://host:port); client verbs only.
    #[arg(short = 'H', long = "host", value_name = "list")]
    host: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once; boxing would only add noise
enum Command {
    /// The low-level OCI runtime, with runc's command line.
    Oci(Deferred<berth_oci::OciArgs>),
    /// Internal: the zygote that forks container monitors (the engine starts it).
    #[command(hide = true)]
    MonitorZygote(Deferred<monitor::ZygoteArgs>),
    /// The engine daemon, serving the Docker Engine API.
    Daemon(Deferred<daemon::DaemonArgs>),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    use berth_oci::startup::{Lifetime, c_main};
    // SAFETY: argc and argv as the C runtime passed them (argv[1] exists when argc > 1).
    unsafe {
        let verb = (argc > 1).then(|| std::ffi::CStr::from_ptr(*argv.add(1)));
        let lifetime = match verb {
            Some(verb) if verb == c"daemon" || verb == c"monitor-zygote" => Lifetime::Long,
            _ => Lifetime::Short,
        };
        c_main(argc, argv, lifetime, run)
    }
}

/// The command line, parsed and carried out: what a Rust `main` would hold. (Test builds have
/// the harness's main instead.)
#[cfg_attr(test, allow(dead_code))]
fn run(args: Vec<OsString>) -> i32 {
    // The runtime's verbs run at every step of every container's life: parse only their flags,
    // not the tree of every docker verb.
    if args.get(1).is_some_and(|verb| verb == "oci") {
        return berth_oci::main(berth_oci::parse(
            args.into_iter().skip(1).collect(),
            "berth oci",
        ));
    }
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Oci(args) => berth_oci::main(args.0),
        Command::MonitorZygote(args) => monitor::main(args.0),
        Command::Daemon(args) => daemon::main(args.0),
        Command::Client(cmd) => cli::main(cli.host.as_deref(), cmd),
    }
}
