//! `berth`: the command line: `berth oci`, the runc-compatible runtime, and the docker-compatible
//! client verbs (`run`, `ps`, `images`, ...), which talk to the daemon over the Engine API.

mod cli;
mod client;
mod daemon;
mod deferred;
mod monitor;
mod oci;

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
    Oci(Deferred<oci::OciArgs>),
    /// Internal: the zygote that forks container monitors (the engine starts it).
    #[command(hide = true)]
    MonitorZygote(Deferred<monitor::ZygoteArgs>),
    /// The engine daemon, serving the Docker Engine API.
    Daemon(Deferred<daemon::DaemonArgs>),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

fn main() {
    // Die quietly on a closed pipe (`berth oci state ID | head`), as C tools do; Rust ignores
    // SIGPIPE by default and would panic on the failed print instead.
    // SAFETY: restoring the default disposition before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Oci(args) => oci::main(args.0),
        Command::MonitorZygote(args) => monitor::main(args.0),
        Command::Daemon(args) => daemon::main(args.0),
        Command::Client(cmd) => cli::main(cli.host.as_deref(), cmd),
    };
    std::process::exit(code);
}
