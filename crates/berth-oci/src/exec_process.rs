//! `exec` flags and how they turn into the OCI process to run: `--process FILE` as given, or the
//! container's own process with the command and overrides from the flags, as runc builds it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use berth_runtime::container;
use berth_runtime::state::StateRoot;
use clap::Args;
use oci_spec::runtime::{Capability, Process, User};

#[derive(Args)]
pub struct ExecArgs {
    /// Unix socket that receives the pty master with --tty.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Extra environment variables (KEY=VALUE).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Allocate a pty.
    #[arg(short, long)]
    tty: bool,
    /// uid[:gid] to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Additional group ids.
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    /// process.json to run instead of the command line.
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Do not wait for the process.
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the process's pid to.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    no_new_privs: bool,
    /// Add a capability to the process (CAP_...).
    #[arg(short, long)]
    cap: Vec<String>,
    /// Pass this many descriptors after stdio into the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

impl ExecArgs {
    pub fn process(&self, root: &StateRoot) -> Result<Process> {
        if let Some(path) = &self.process {
            return Ok(berth_runtime::spec::parse_process(path)?);
        }
        if self.command.is_empty() {
            bail!("exec needs a command (or --process FILE)");
        }
        let spec = container::load(root, &self.id)?.dir.read_config()?;
        let mut process = spec.process().clone().unwrap_or_default();
        process.set_args(Some(self.command.clone()));
        let mut env = process.env().clone().unwrap_or_default();
        env.extend(self.env.iter().cloned());
        process.set_env(Some(env));
        if let Some(cwd) = &self.cwd {
            process.set_cwd(cwd.clone());
        }
        process.set_terminal(Some(self.tty));
        if let Some(user) = &self.user {
            process.set_user(parse_user(user, &self.additional_gids)?);
        } else if !self.additional_gids.is_empty() {
            let mut user = process.user().clone();
            user.set_additional_gids(Some(self.additional_gids.clone()));
            process.set_user(user);
        }
        if self.no_new_privs {
            process.set_no_new_privileges(Some(true));
        }
        if !self.cap.is_empty() {
            add_capabilities(&mut process, &self.cap)?;
        }
        Ok(process)
    }
}

fn parse_user(text: &str, additional_gids: &[u32]) -> Result<User> {
    let (uid, gid) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    let mut user = User::default();
    user.set_uid(
        uid.parse()
            .with_context(|| format!("--user {text}: uid must be a number"))?,
    );
    user.set_gid(
        gid.map(str::parse)
            .transpose()
            .with_context(|| format!("--user {text}: gid must be a number"))?
            .unwrap_or(0),
    );
    if !additional_gids.is_empty() {
        user.set_additional_gids(Some(additional_gids.to_vec()));
    }
    Ok(user)
}

fn add_capabilities(process: &mut Process, names: &[String]) -> Result<()> {
    let mut caps = process.capabilities().clone().unwrap_or_default();
    for name in names {
        let cap: Capability = serde_json::from_value(serde_json::Value::String(name.clone()))
            .with_context(|| format!("--cap {name}: unknown capability"))?;
        let add = |set: &Option<oci_spec::runtime::Capabilities>| {
            let mut set = set.clone().unwrap_or_default();
            set.insert(cap);
            Some(set)
        };
        caps.set_bounding(add(caps.bounding()));
        caps.set_effective(add(caps.effective()));
        caps.set_permitted(add(caps.permitted()));
        caps.set_ambient(add(caps.ambient()));
    }
    process.set_capabilities(Some(caps));
    Ok(())
}
