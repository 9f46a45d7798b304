//! The runc command line over `berth_runtime`, as `berth oci` (a verb of the whole command line)
//! and as `berth-oci` (a binary of its own: the runtime alone, for runc's place). Flags, output
//! and exit codes follow runc so that containerd, Docker or a test suite can swap one for the
//! other. Also the start-up both binaries share: a C `main` ([`startup`]) and the allocator
//! ([`arena`]).

pub mod arena;
mod events;
mod exec_process;
mod log;
mod output;
pub mod startup;

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use berth_runtime::container::{self, CreateOptions, ExecOptions};
use berth_runtime::state::StateRoot;
use clap::{Args, CommandFactory, FromArgMatches, Subcommand, ValueEnum};

/// The low-level OCI runtime, with runc's command line.
#[derive(clap::Parser)]
#[command(name = "berth-oci")]
struct OciCli {
    #[command(flatten)]
    args: OciArgs,
}

/// Parses the runtime's command line alone (`args` starting at the program name), its help and
/// errors naming it `bin_name`: `berth oci` checks for its verb first and parses only its own
/// flags, not the tree of every docker verb.
pub fn parse(args: Vec<OsString>, bin_name: &'static str) -> OciArgs {
    let matches = OciCli::command().bin_name(bin_name).get_matches_from(args);
    OciCli::from_arg_matches(&matches)
        .unwrap_or_else(|e| e.exit())
        .args
}

#[derive(Args)]
#[command(version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: ", "1.2.0"))]
pub struct OciArgs {
    /// Directory for container state.
    #[arg(long, global = true, default_value = berth_runtime::state::DEFAULT_ROOT)]
    root: PathBuf,
    /// Append errors and logs to this file (as runc's --log).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of --log: text or json.
    #[arg(long, global = true, default_value = "text")]
    log_format: log::Format,
    /// Log debug messages.
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility; berth has no systemd cgroup driver and refuses it.
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: OciCommand,
}

#[derive(Args)]
struct BundleArgs {
    /// Path to the bundle directory.
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is true.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// File to write the init's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root (for an initramfs root).
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility: berth never creates a session keyring.
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass this many descriptors after stdio (3, 4, ...) into the container.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Container id.
    id: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Subcommand)]
enum OciCommand {
    /// Write a default config.json into the bundle.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A spec for an unprivileged user (user namespace mapping the caller's ids).
        #[arg(long)]
        rootless: bool,
    },
    /// Create a container that waits for `start`.
    Create(BundleArgs),
    /// Create, start, wait and delete a container.
    Run {
        #[command(flatten)]
        bundle: BundleArgs,
        /// Return after start instead of waiting.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Run the created container's program.
    Start { id: String },
    /// Print the OCI state JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's init.
    Kill {
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Signal every process in the container.
        #[arg(short, long)]
        all: bool,
    },
    /// Remove a container's state and cgroup.
    Delete {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// List the container's processes.
    Ps {
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        id: String,
        /// Options passed to ps(1) for the table format (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Run a new process in the container.
    Exec(exec_process::ExecArgs),
    /// Freeze every process of the container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Change the container's cgroup limits.
    Update {
        /// LinuxResources JSON file, or - for stdin.
        #[arg(short, long)]
        resources: PathBuf,
        id: String,
    },
    /// Print cgroup usage and OOM kills: once with --stats, else an event line each interval
    /// until the container stops (an "oom" event when the OOM-kill count rises).
    Events {
        #[arg(long)]
        stats: bool,
        /// Seconds between readings.
        #[arg(long, default_value_t = 5)]
        interval: u64,
        id: String,
    },
    /// Print what this runtime supports (runtime-spec features JSON).
    Features,
    /// List containers.
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
}

/// Runs the command; returns the process exit code.
pub fn main(args: OciArgs) -> i32 {
    let logger = log::Logger::new(args.log.clone(), args.log_format, args.debug);
    match dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            logger.error(&format!("{e:#}"));
            1
        }
    }
}

fn dispatch(args: OciArgs) -> Result<i32> {
    if args.systemd_cgroup {
        bail!("--systemd-cgroup: berth has no systemd cgroup driver; use cgroupfs paths");
    }
    let root = StateRoot::new(&args.root);
    match args.command {
        OciCommand::Spec { bundle, rootless } => write_spec(&bundle, rootless).map(|()| 0),
        OciCommand::Create(b) => {
            container::create(&root, create_options(&b)?)?;
            Ok(0)
        }
        OciCommand::Run {
            bundle,
            detach,
            keep,
        } => {
            if keep && !detach {
                bail!("--keep is not supported yet: the container is deleted when it exits");
            }
            Ok(container::run(&root, create_options(&bundle)?, detach)?)
        }
        OciCommand::Start { id } => container::start(&root, &id).map(|()| 0).map_err(Into::into),
        OciCommand::State { id } => {
            let state = container::load(&root, &id)?.oci_state();
            println!("{}", serde_json::to_string_pretty(&state)?);
            Ok(0)
        }
        OciCommand::Kill { id, signal, all } => {
            let signal = container::parse_signal(&signal)?;
            if all {
                container::kill_all(&root, &id, signal)?;
            } else {
                container::kill(&root, &id, signal)?;
            }
            Ok(0)
        }
        OciCommand::Delete { force, ids } => {
            for id in ids {
                container::delete(&root, &id, force).with_context(|| format!("delete {id}"))?;
            }
            Ok(0)
        }
        OciCommand::Ps {
            format,
            id,
            ps_args,
        } => {
            let pids = container::pids(&root, &id)?;
            match format {
                ListFormat::Json => println!("{}", serde_json::to_string(&pids)?),
                ListFormat::Table => output::ps_table(&pids, &ps_args)?,
            }
            Ok(0)
        }
        OciCommand::Exec(exec) => {
            let process = exec.process(&root)?;
            Ok(container::exec(
                &root,
                ExecOptions {
                    id: &exec.id,
                    process,
                    detach: exec.detach,
                    pid_file: exec.pid_file.as_deref(),
                    console_socket: connect_console(exec.console_socket.as_deref())?,
                    preserve_fds: exec.preserve_fds,
                    stdio: None,
                },
            )?)
        }
        OciCommand::Pause { id } => container::pause(&root, &id).map(|()| 0).map_err(Into::into),
        OciCommand::Resume { id } => container::resume(&root, &id)
            .map(|()| 0)
            .map_err(Into::into),
        OciCommand::Update { resources, id } => {
            let text = read_file_or_stdin(&resources)?;
            let resources = serde_json::from_slice(&text)
                .with_context(|| format!("parse resources {}", resources.display()))?;
            container::update(&root, &id, &resources)?;
            Ok(0)
        }
        OciCommand::Events {
            stats,
            interval,
            id,
        } => events::print(&root, &id, stats, interval).map(|()| 0),
        OciCommand::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&container::features::features())?
            );
            Ok(0)
        }
        OciCommand::List { format, quiet } => {
            let states = container::list(&root)?;
            output::list(&states, matches!(format, ListFormat::Json), quiet)?;
            Ok(0)
        }
    }
}

fn create_options(b: &BundleArgs) -> Result<CreateOptions<'_>> {
    Ok(CreateOptions {
        id: &b.id,
        bundle: &b.bundle,
        pid_file: b.pid_file.as_deref(),
        console_socket: connect_console(b.console_socket.as_deref())?,
        stdio: None,
        no_pivot: b.no_pivot,
        start_at_once: false,
        preserve_fds: b.preserve_fds,
    })
}

fn connect_console(path: Option<&Path>) -> Result<Option<std::os::fd::OwnedFd>> {
    Ok(path
        .map(berth_runtime::process::console::connect)
        .transpose()?)
}

fn write_spec(bundle: &Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("{} already exists; remove it first", path.display());
    }
    let spec = if rootless {
        oci_spec::runtime::Spec::rootless(
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    } else {
        berth_runtime::spec::default_spec()
    };
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))
}

fn read_file_or_stdin(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("read {}", path.display()))
    }
}
