//! `berth`: the command line: `berth oci`, the runc-compatible runtime, and the docker-compatible
//! client verbs (`run`, `ps`, `images`, ...), which talk to the daemon over the Engine API.

// berth starts as a C program does: std's start-up (a read of /proc/self/maps for the main
// thread's guard page, a signal stack, SIGSEGV/SIGBUS handlers) cost 0.1 ms of every `berth`
// process here, and a container's life through the runtime's command line is four of them.
// `main` below does the parts of it that matter to berth.
#![cfg_attr(not(test), no_main)]

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

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    open_standard_fds();
    // Die quietly on a closed pipe (`berth oci state ID | head`), as C tools do; Rust ignores
    // SIGPIPE by default and would panic on the failed print instead.
    // SAFETY: restoring the default disposition before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // A panic is reported by the hook and exits 101, as from a Rust main; unwinding out of
    // this extern "C" function would abort instead.
    let code = std::panic::catch_unwind(run).unwrap_or(101);
    // Flushes stdout, as returning from a Rust main would.
    std::process::exit(code);
}

/// The command line, parsed and carried out: what a Rust `main` would hold. (Test builds have
/// the harness's main instead.)
#[cfg_attr(test, allow(dead_code))]
fn run() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Oci(args) => oci::main(args.0),
        Command::MonitorZygote(args) => monitor::main(args.0),
        Command::Daemon(args) => daemon::main(args.0),
        Command::Client(cmd) => cli::main(cli.host.as_deref(), cmd),
    }
}

/// Opens /dev/null on each of fds 0, 1 and 2 that is closed, as std's start-up does, so that no
/// file opened later (a daemon's database, a container's log) gets one of them and our prints.
#[cfg(not(test))]
fn open_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll on three pollfds we own; open returns the lowest free descriptor, which is
    // the closed one, as the lower ones are open by then.
    unsafe {
        if libc::poll(fds.as_mut_ptr(), 3, 0) < 0 {
            return;
        }
        for pollfd in fds {
            if pollfd.revents & libc::POLLNVAL != 0 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}
