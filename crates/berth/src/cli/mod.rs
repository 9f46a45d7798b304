//! The docker-compatible client verbs. Each talks to the daemon over the Engine API only (see
//! `crate::client`); nothing here reads the daemon's files.

mod archive;
mod build;
mod commit;
mod containers;
mod credentials;
mod disk;
mod events;
mod exec;
mod files;
mod groups;
mod health_opts;
mod host_opts;
mod human;
mod images;
mod inspect;
mod login;
mod manage;
mod network;
mod ports;
mod ps;
mod pull;
mod push;
mod run;
mod stats;
mod stream;
mod system;
pub mod template;
mod term;
mod volume;

use clap::Subcommand;

use crate::client::{Client, Error, host};
use crate::deferred::Deferred;

/// How a verb failed: the message for stderr and the exit code.
#[derive(Debug)]
pub enum Exit {
    Msg(String, i32),
}

impl Exit {
    /// A `run`/`create` failure: docker prefixes these with the program name and exits 125.
    pub fn run(e: Error) -> Exit {
        Exit::Msg(format!("berth: {e}"), 125)
    }

    /// Any other verb's failure: the message as is, exit 1.
    pub fn one(e: impl std::fmt::Display) -> Exit {
        Exit::Msg(e.to_string(), 1)
    }
}

pub type Res = Result<i32, Exit>;

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Create and run a new container from an image.
    Run(Deferred<run::RunArgs>),
    /// Create a new container.
    Create(Deferred<run::CreateArgs>),
    /// Start one or more stopped containers.
    Start(Deferred<run::StartArgs>),
    /// Execute a command in a running container.
    Exec(Deferred<exec::ExecArgs>),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(Deferred<stats::StatsArgs>),
    /// Get real time events from the server.
    Events(Deferred<events::EventsArgs>),
    /// Display the running processes of a container.
    Top(Deferred<manage::TopArgs>),
    /// Pause all processes within one or more containers.
    Pause(Deferred<manage::PauseArgs>),
    /// Unpause all processes within one or more containers.
    Unpause(Deferred<manage::PauseArgs>),
    /// Rename a container.
    Rename(Deferred<manage::RenameArgs>),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(Deferred<run::AttachArgs>),
    /// List containers.
    Ps(Deferred<ps::PsArgs>),
    /// Fetch the logs of a container.
    Logs(Deferred<containers::LogsArgs>),
    /// Stop one or more running containers.
    Stop(Deferred<containers::StopArgs>),
    /// Kill one or more running containers.
    Kill(Deferred<containers::KillArgs>),
    /// Restart one or more containers.
    Restart(Deferred<containers::StopArgs>),
    /// Remove one or more containers.
    Rm(Deferred<containers::RmArgs>),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(Deferred<containers::WaitArgs>),
    /// Return low-level information on Docker objects.
    Inspect(Deferred<inspect::InspectArgs>),
    /// List images.
    Images(Deferred<images::ImagesArgs>),
    /// Import the contents from a tarball to create a filesystem image.
    Import(Deferred<images::ImportArgs>),
    /// Download an image from a registry.
    Pull(Deferred<pull::PullArgs>),
    /// Upload an image to a registry.
    Push(Deferred<push::PushArgs>),
    /// Log in to a registry.
    Login(Deferred<login::LoginArgs>),
    /// Log out from a registry.
    Logout(Deferred<login::LogoutArgs>),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(Deferred<images::TagArgs>),
    /// Build an image from a Dockerfile.
    Build(Deferred<build::BuildArgs>),
    /// Create a new image from a container's changes.
    Commit(Deferred<commit::CommitArgs>),
    /// Remove one or more images.
    Rmi(Deferred<images::RmiArgs>),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(Deferred<archive::SaveArgs>),
    /// Load an image from a tar archive or STDIN.
    Load(Deferred<archive::LoadArgs>),
    /// Show the history of an image.
    History(Deferred<archive::HistoryArgs>),
    /// Manage images.
    #[command(subcommand)]
    Image(Deferred<groups::ImageCommand>),
    /// Manage berth.
    #[command(subcommand)]
    System(Deferred<groups::SystemCommand>),
    /// Show the berth version information.
    Version(Deferred<system::VersionArgs>),
    /// Display system-wide information.
    Info(Deferred<system::InfoArgs>),
    /// Manage volumes.
    Volume(Deferred<volume::VolumeArgs>),
    /// Copy files/folders between a container and the local filesystem.
    Cp(Deferred<files::CpArgs>),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(Deferred<files::DiffArgs>),
    /// Export a container's filesystem as a tar archive.
    Export(Deferred<files::ExportArgs>),
    /// Update configuration of one or more containers.
    Update(Deferred<volume::UpdateArgs>),
    /// Manage networks.
    Network(Deferred<network::NetworkArgs>),
    /// List port mappings or a specific mapping for the container.
    Port(Deferred<ports::PortArgs>),
}

/// Runs one client verb against the daemon named by `-H` (or the environment) and returns the
/// process exit code.
pub fn main(host_flag: Option<&str>, cmd: ClientCommand) -> i32 {
    let host = match host::resolve(host_flag, |k| std::env::var(k).ok()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("berth: {e}");
            return 125;
        }
    };
    let version = std::env::var("DOCKER_API_VERSION")
        .ok()
        .map(|v| v.trim_start_matches('v').to_string())
        .filter(|v| !v.is_empty());
    let c = Client::new(host, version);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        term::restore();
        hook(info);
    }));
    let r = match &cmd {
        ClientCommand::Run(a) => run::run(&c, a),
        ClientCommand::Create(a) => run::create_cmd(&c, a),
        ClientCommand::Start(a) => run::start(&c, a),
        ClientCommand::Attach(a) => run::attach(&c, a),
        ClientCommand::Exec(a) => exec::exec(&c, a),
        ClientCommand::Top(a) => manage::top(&c, a),
        ClientCommand::Events(a) => events::events(&c, a),
        ClientCommand::Stats(a) => stats::stats(&c, a),
        ClientCommand::Pause(a) => manage::pause(&c, a, "pause"),
        ClientCommand::Unpause(a) => manage::pause(&c, a, "unpause"),
        ClientCommand::Rename(a) => manage::rename(&c, a),
        ClientCommand::Ps(a) => ps::ps(&c, a),
        ClientCommand::Logs(a) => containers::logs(&c, a),
        ClientCommand::Stop(a) => containers::stop(&c, a, "stop"),
        ClientCommand::Restart(a) => containers::stop(&c, a, "restart"),
        ClientCommand::Kill(a) => containers::kill(&c, a),
        ClientCommand::Rm(a) => containers::rm(&c, a),
        ClientCommand::Wait(a) => containers::wait(&c, a),
        ClientCommand::Inspect(a) => inspect::inspect(&c, a),
        ClientCommand::Images(a) => images::images(&c, a),
        ClientCommand::Import(a) => images::import(&c, a),
        ClientCommand::Pull(a) => pull::pull(&c, a),
        ClientCommand::Push(a) => push::push(&c, a),
        ClientCommand::Login(a) => login::login(&c, a),
        ClientCommand::Logout(a) => login::logout(a),
        ClientCommand::Tag(a) => images::tag(&c, a),
        ClientCommand::Commit(a) => commit::commit(&c, a),
        ClientCommand::Build(a) => build::build(&c, a),
        ClientCommand::Rmi(a) => images::rmi(&c, a),
        ClientCommand::Save(a) => archive::save(&c, a),
        ClientCommand::Load(a) => archive::load(&c, a),
        ClientCommand::History(a) => archive::history(&c, a),
        ClientCommand::Image(g) => groups::image(&c, g),
        ClientCommand::System(g) => groups::system(&c, g),
        ClientCommand::Version(a) => system::version(&c, a),
        ClientCommand::Info(a) => system::info(&c, a),
        ClientCommand::Volume(a) => volume::volume(&c, a),
        ClientCommand::Cp(a) => files::cp(&c, a),
        ClientCommand::Diff(a) => files::diff(&c, a),
        ClientCommand::Export(a) => files::export(&c, a),
        ClientCommand::Update(a) => volume::update(&c, a),
        ClientCommand::Network(a) => network::network(&c, a),
        ClientCommand::Port(a) => ports::port(&c, a),
    };
    term::restore();
    match r {
        Ok(code) => code,
        Err(Exit::Msg(m, code)) => {
            if !m.is_empty() {
                eprintln!("{m}");
            }
            code
        }
    }
}

/// Runs `f` on each name, printing the name on success and the error otherwise; exit 1 if any
/// failed (docker's behaviour for stop, kill, rm, ...).
pub fn each(names: &[String], mut f: impl FnMut(&str) -> Result<Option<String>, Error>) -> Res {
    let mut failed = false;
    for n in names {
        match f(n) {
            Ok(Some(out)) => println!("{out}"),
            Ok(None) => println!("{n}"),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// Prints text to stdout in one write.
pub fn out(s: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}
