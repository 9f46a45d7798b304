//! `run`, `create`, `start`, `attach`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use clap::{ArgAction, Args};
use serde_json::{Value, json};

use crate::client::{Client, Error, Result, enc};

use super::health_opts::HealthOpts;
use super::host_opts::{CreateLimitOpts, MountOpts, ResourceOpts, SecurityOpts};
use super::stream::{self, Streams};
use super::{Exit, term};

#[derive(Args, Debug, Default)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print usage.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables.
    #[arg(short, long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Attach to STDIN, STDOUT or STDERR.
    #[arg(short, long, value_name = "list")]
    pub attach: Vec<String>,
    /// Set meta data on a container.
    #[arg(short, long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Connect a container to a network.
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    pub ip: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33).
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Add network-scoped alias for the container.
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long, value_name = "list")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Publish a container's port(s) to the host.
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports.
    #[arg(long, value_name = "list")]
    pub expose: Vec<String>,
    /// Set DNS options.
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long = "stop-timeout", allow_negative_numbers = true)]
    pub stop_timeout: Option<i64>,
    #[command(flatten)]
    pub mounts: MountOpts,
    #[command(flatten)]
    pub resources: ResourceOpts,
    #[command(flatten)]
    pub limits: CreateLimitOpts,
    #[command(flatten)]
    pub security: SecurityOpts,
    #[command(flatten)]
    pub health: HealthOpts,
    /// The image, then the command and its arguments (flags after the image are the command's).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub image_and_command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process (non-TTY mode only).
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// Parses an env file: `VAR=value` lines, `VAR` alone taken from our environment, blank lines
/// and `#` comments skipped.
pub fn parse_env_file(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    file: &str,
) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line.trim_end(), None),
        };
        if name.is_empty() {
            return Err(format!("no variable name on line '{line}'"));
        }
        if name.contains(char::is_whitespace) {
            return Err(format!(
                "variable '{name}' contains whitespaces ({file} line {})",
                n + 1
            ));
        }
        match value {
            Some(v) => out.push(format!("{name}={v}")),
            None => {
                if let Some(v) = lookup(name) {
                    out.push(format!("{name}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// `-e` values: `VAR` alone is taken from our environment, dropped when unset.
pub fn expand_env(list: &[String], lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    list.iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                lookup(e).map(|v| format!("{e}={v}"))
            }
        })
        .collect()
}

pub fn env_lookup(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// Which streams to attach: `-a` values, or stdout+stderr (and stdin with `-i`).
fn streams(a: &CreateArgs, detach: bool) -> std::result::Result<Streams, String> {
    if detach {
        if !a.attach.is_empty() {
            return Err("Conflicting options: -a and -d".into());
        }
        return Ok(Streams {
            stdin: false,
            stdout: false,
            stderr: false,
        });
    }
    if a.attach.is_empty() {
        return Ok(Streams {
            stdin: a.interactive,
            stdout: true,
            stderr: true,
        });
    }
    let mut s = Streams {
        stdin: false,
        stdout: false,
        stderr: false,
    };
    for v in &a.attach {
        match v.to_ascii_lowercase().as_str() {
            "stdin" => s.stdin = true,
            "stdout" => s.stdout = true,
            "stderr" => s.stderr = true,
            _ => {
                return Err(format!(
                    "invalid argument \"{v}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
                ));
            }
        }
    }
    Ok(s)
}

/// The body of `POST /containers/create`.
pub fn create_body(
    a: &CreateArgs,
    detach: bool,
    auto_remove: bool,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<Value, String> {
    let (image, cmd) = a
        .image_and_command
        .split_first()
        .ok_or("requires at least 1 argument")?;
    let s = streams(a, detach)?;
    let mut env = Vec::new();
    for f in &a.env_file {
        let text = std::fs::read_to_string(f).map_err(|e| format!("open {f}: {e}"))?;
        env.extend(parse_env_file(&text, lookup, f)?);
    }
    env.extend(expand_env(&a.env, lookup));
    let labels: BTreeMap<&str, &str> = a
        .label
        .iter()
        .map(|l| l.split_once('=').unwrap_or((l.as_str(), "")))
        .collect();
    let mut config = json!({
        "Image": image,
        "Tty": a.tty,
        "OpenStdin": a.interactive,
        "StdinOnce": a.interactive && s.stdin,
        "AttachStdin": s.stdin,
        "AttachStdout": s.stdout,
        "AttachStderr": s.stderr,
        "Env": env,
        "Cmd": if cmd.is_empty() { Value::Null } else { json!(cmd) },
        "Labels": labels,
        "HostConfig": {
            "AutoRemove": auto_remove,
            "ReadonlyRootfs": a.read_only,
            "NetworkMode": a.network.as_deref().unwrap_or(""),
        },
    });
    network_fields(a, &mut config);
    super::ports::publish_fields(&a.publish, &a.expose, &mut config)?;
    if a.publish_all {
        config["HostConfig"]["PublishAllPorts"] = json!(true);
    }
    let o = config.as_object_mut().expect("object");
    if let Some(e) = &a.entrypoint {
        o.insert("Entrypoint".into(), json!([e]));
    }
    let opt = |o: &mut serde_json::Map<String, Value>, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    };
    opt(o, "WorkingDir", &a.workdir);
    opt(o, "User", &a.user);
    opt(o, "Hostname", &a.hostname);
    opt(o, "StopSignal", &a.stop_signal);
    if let Some(t) = a.stop_timeout {
        o.insert("StopTimeout".into(), json!(t));
    }
    a.health.apply(o)?;
    a.mounts.apply(&mut config)?;
    let hc = config["HostConfig"].as_object_mut().expect("HostConfig");
    a.resources.apply(hc)?;
    a.limits.apply(hc)?;
    a.security.apply(hc)?;
    // As docker does: the pty has the terminal's size from the first byte on.
    if a.tty
        && let Some((h, w)) = term::size()
    {
        config["HostConfig"]["ConsoleSize"] = json!([h, w]);
    }
    Ok(config)
}

/// `--add-host`, `--dns*` into the host config; `--ip`, `--mac-address`, `--network-alias`
/// into the endpoint of the network the container joins, as docker sends them.
fn network_fields(a: &CreateArgs, config: &mut Value) {
    let hc = &mut config["HostConfig"];
    for (key, list) in [
        ("ExtraHosts", &a.add_host),
        ("Dns", &a.dns),
        ("DnsSearch", &a.dns_search),
        ("DnsOptions", &a.dns_option),
    ] {
        if !list.is_empty() {
            hc[key] = json!(list);
        }
    }
    let mut endpoint = serde_json::Map::new();
    if let Some(ip) = &a.ip {
        endpoint.insert("IPAMConfig".into(), json!({"IPv4Address": ip}));
    }
    if let Some(mac) = &a.mac_address {
        endpoint.insert("MacAddress".into(), json!(mac));
    }
    if !a.network_alias.is_empty() {
        endpoint.insert("Aliases".into(), json!(a.network_alias));
    }
    if !endpoint.is_empty() {
        let net = a.network.as_deref().unwrap_or("default");
        config["NetworkingConfig"] = json!({"EndpointsConfig": {net: endpoint}});
    }
}

/// Docker's exit code for a container that failed to start.
pub fn start_failure_code(msg: &str) -> i32 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        126
    } else {
        125
    }
}

fn create(c: &Client, a: &CreateArgs, detach: bool, rm: bool) -> Result<String> {
    let body = create_body(a, detach, rm, &env_lookup).map_err(Error::Other)?;
    let path = match &a.name {
        Some(n) => format!("/containers/create?name={}", enc(n)),
        None => "/containers/create".to_string(),
    };
    let r = match c.post_json(&path, Some(&body)) {
        // As docker: a missing image is pulled (progress on stderr), then the create retried.
        Err(Error::Api {
            status: 404,
            message,
        }) if message.starts_with("No such image") => {
            let image = body["Image"].as_str().unwrap_or_default();
            eprintln!("Unable to find image '{image}' locally");
            let stderr = std::io::stderr();
            let tty = std::io::IsTerminal::is_terminal(&stderr);
            super::pull::image(c, image, None, &mut stderr.lock(), tty)?;
            c.post_json(&path, Some(&body))?
        }
        r => r?,
    };
    if let Some(w) = r.get("Warnings").and_then(Value::as_array) {
        for w in w.iter().filter_map(Value::as_str) {
            eprintln!("WARNING: {w}");
        }
    }
    r.get("Id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Other("the daemon returned no container id".into()))
}

/// (Config.Tty, Config.OpenStdin) of an inspected container.
fn tty_and_stdin(info: &Value) -> (bool, bool) {
    let flag = |p: &str| info.pointer(p).and_then(Value::as_bool).unwrap_or(false);
    (flag("/Config/Tty"), flag("/Config/OpenStdin"))
}

fn attach_path(id: &str, s: &Streams) -> String {
    format!(
        "/containers/{id}/attach?stream=1&stdin={}&stdout={}&stderr={}",
        s.stdin as u8, s.stdout as u8, s.stderr as u8
    )
}

fn wait_status(r: crate::client::Response) -> Result<i32> {
    let v = r.json()?;
    if let Some(m) = v.pointer("/Error/Message").and_then(Value::as_str)
        && !m.is_empty()
    {
        eprintln!("berth: {m}");
    }
    Ok(v.get("StatusCode").and_then(Value::as_i64).unwrap_or(125) as i32)
}

/// Attaches, starts (when `start`), pumps the streams and returns the exit status.
/// How to run one attached session.
struct Session<'a> {
    streams: Streams,
    tty: bool,
    /// The `wait` condition: `next-exit`, `removed` or `not-running`.
    wait_condition: &'a str,
    /// Whether to start the container once attached.
    start: bool,
    sig_proxy: bool,
    detach_keys: Option<&'a str>,
}

fn attach_and_run(c: &Client, id: &str, session: &Session) -> std::result::Result<i32, Exit> {
    let Session {
        streams: s,
        tty,
        wait_condition,
        start,
        sig_proxy,
        detach_keys,
    } = session;
    let (tty, start, sig_proxy, detach_keys) = (*tty, *start, *sig_proxy, *detach_keys);
    let interactive_tty = tty && s.stdin && term::stdin_is_tty();
    let detach = if tty && s.stdin {
        Some(
            stream::parse_detach_keys(detach_keys.unwrap_or("ctrl-p,ctrl-q"))
                .map_err(|e| Exit::Msg(e, 1))?,
        )
    } else {
        None
    };
    let sig_proxy = sig_proxy && !tty;
    if tty {
        stream::block_winch();
    }
    if sig_proxy {
        stream::block_proxied();
    }
    let mut h = c.hijack(&attach_path(id, s)).map_err(Exit::run)?;
    // The wait request goes out before the start so that a fast exit is not missed; its head is
    // read now, its body at the end.
    let wait = c
        .request(
            "POST",
            &format!("/containers/{id}/wait?condition={wait_condition}"),
            crate::client::Body::None,
        )
        .map_err(Exit::run)?;
    if start && let Err(e) = c.call("POST", &format!("/containers/{id}/start")) {
        let code = match &e {
            Error::Api { message, .. } => start_failure_code(message),
            _ => 125,
        };
        return Err(Exit::Msg(format!("berth: {e}"), code));
    }
    if interactive_tty {
        term::make_raw();
    }
    if tty {
        stream::track_size(c, id, false);
    }
    if sig_proxy {
        stream::proxy_signals(c, id);
    }
    if s.stdin {
        stream::spawn_stdin(&h, detach).map_err(|e| Exit::run(e.into()))?;
    }
    if s.stdout || s.stderr {
        let _ = stream::pump_output(&mut h, tty);
    }
    let code = wait_status(wait).map_err(Exit::run)?;
    term::restore();
    Ok(code)
}

pub fn run(c: &Client, a: &RunArgs) -> std::result::Result<i32, Exit> {
    if a.create.tty && a.create.interactive && !a.detach && !term::stdin_is_tty() {
        return Err(Exit::Msg("the input device is not a TTY".into(), 1));
    }
    let id = create(c, &a.create, a.detach, a.rm).map_err(Exit::run)?;
    if a.detach {
        if let Err(e) = c.call("POST", &format!("/containers/{id}/start")) {
            let code = match &e {
                Error::Api { message, .. } => start_failure_code(message),
                _ => 125,
            };
            return Err(Exit::Msg(format!("berth: {e}"), code));
        }
        println!("{id}");
        return Ok(0);
    }
    let s = streams(&a.create, false).map_err(|e| Exit::Msg(format!("berth: {e}"), 125))?;
    let cond = if a.rm { "removed" } else { "next-exit" };
    attach_and_run(
        c,
        &id,
        &Session {
            streams: s,
            tty: a.create.tty,
            wait_condition: cond,
            start: true,
            sig_proxy: a.sig_proxy,
            detach_keys: a.detach_keys.as_deref(),
        },
    )
}

pub fn create_cmd(c: &Client, a: &CreateArgs) -> std::result::Result<i32, Exit> {
    let id = create(c, a, false, false).map_err(Exit::run)?;
    println!("{id}");
    Ok(0)
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN.
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

fn inspect(c: &Client, id: &str) -> Result<Value> {
    c.get_json(&format!("/containers/{}/json", enc(id)))
}

pub fn start(c: &Client, a: &StartArgs) -> std::result::Result<i32, Exit> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(Exit::Msg(
                "you cannot start and attach multiple containers at once".into(),
                1,
            ));
        }
        let info = inspect(c, &a.containers[0]).map_err(|e| Exit::Msg(e.to_string(), 1))?;
        let id = info
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (tty, open_stdin) = tty_and_stdin(&info);
        let s = Streams {
            stdin: a.interactive && open_stdin,
            stdout: true,
            stderr: true,
        };
        return attach_and_run(
            c,
            &id,
            &Session {
                streams: s,
                tty,
                wait_condition: "next-exit",
                start: true,
                sig_proxy: a.attach,
                detach_keys: a.detach_keys.as_deref(),
            },
        );
    }
    let mut failed = Vec::new();
    for name in &a.containers {
        match c.call("POST", &format!("/containers/{}/start", enc(name))) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(name.as_str());
            }
        }
    }
    if !failed.is_empty() {
        return Err(Exit::Msg(
            format!("Error: failed to start containers: {}", failed.join(", ")),
            1,
        ));
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Do not attach STDIN.
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Proxy all received signals to the process.
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    pub container: String,
}

pub fn attach(c: &Client, a: &AttachArgs) -> std::result::Result<i32, Exit> {
    let info = inspect(c, &a.container).map_err(|e| Exit::Msg(e.to_string(), 1))?;
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if info.pointer("/State/Running").and_then(Value::as_bool) != Some(true) {
        return Err(Exit::Msg(
            "You cannot attach to a stopped container, start it first".into(),
            1,
        ));
    }
    let (tty, open_stdin) = tty_and_stdin(&info);
    let s = Streams {
        stdin: open_stdin && !a.no_stdin,
        stdout: true,
        stderr: true,
    };
    attach_and_run(
        c,
        &id,
        &Session {
            streams: s,
            tty,
            wait_condition: "not-running",
            start: false,
            sig_proxy: a.sig_proxy,
            detach_keys: a.detach_keys.as_deref(),
        },
    )
}

/// Reads lines of a JSON message stream (import, pull), printing statuses; an `error` fails.
pub fn json_messages(r: crate::client::Response) -> Result<()> {
    for line in BufReader::new(r.body).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)?;
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err(Error::Other(e.to_string()));
        }
        if let Some(s) = v.get("status").and_then(Value::as_str) {
            match v.get("id").and_then(Value::as_str) {
                Some(id) => println!("{id}: {s}"),
                None => println!("{s}"),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> RunArgs {
        T::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
            .unwrap()
            .run
    }

    #[test]
    fn flags_after_image_belong_to_the_command() {
        let a = parse(&[
            "-d", "--rm", "-e", "A=1", "busybox", "ls", "-l", "--rm", "-e", "x",
        ]);
        assert!(a.detach && a.rm);
        assert_eq!(a.create.env, ["A=1"]);
        assert_eq!(
            a.create.image_and_command,
            ["busybox", "ls", "-l", "--rm", "-e", "x"]
        );
        assert!(a.sig_proxy);
        let a = parse(&["--sig-proxy=false", "busybox"]);
        assert!(!a.sig_proxy);
        let a = parse(&["-it", "-h", "box", "busybox", "-x"]);
        assert!(a.create.interactive && a.create.tty);
        assert_eq!(a.create.hostname.as_deref(), Some("box"));
        assert_eq!(a.create.image_and_command, ["busybox", "-x"]);
    }

    #[test]
    fn body() {
        let a = parse(&[
            "-i",
            "--name",
            "n",
            "-w",
            "/w",
            "-u",
            "1:2",
            "--entrypoint",
            "/bin/sh",
            "--read-only",
            "-l",
            "a=b",
            "-l",
            "c",
            "--network",
            "none",
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "3",
            "-e",
            "HOME_X",
            "-e",
            "UNSET_X",
            "busybox",
            "-c",
            "true",
        ]);
        let look = |k: &str| (k == "HOME_X").then(|| "/h".to_string());
        let b = create_body(&a.create, false, true, &look).unwrap();
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], json!(["-c", "true"]));
        assert_eq!(b["Entrypoint"], json!(["/bin/sh"]));
        assert_eq!(b["Env"], json!(["HOME_X=/h"]));
        assert_eq!(b["Labels"], json!({"a": "b", "c": ""}));
        assert_eq!(b["AttachStdin"], true);
        assert_eq!(b["StdinOnce"], true);
        assert_eq!(b["OpenStdin"], true);
        assert_eq!(b["WorkingDir"], "/w");
        assert_eq!(b["User"], "1:2");
        assert_eq!(b["StopSignal"], "SIGINT");
        assert_eq!(b["StopTimeout"], 3);
        assert_eq!(
            b["HostConfig"],
            json!({"AutoRemove": true, "ReadonlyRootfs": true, "NetworkMode": "none"})
        );
        let d = create_body(&parse(&["-d", "-i", "busybox"]).create, true, false, &look).unwrap();
        assert_eq!(d["AttachStdin"], false);
        assert_eq!(d["AttachStdout"], false);
        assert_eq!(d["StdinOnce"], false);
        assert_eq!(d["Cmd"], Value::Null);
        assert!(
            create_body(
                &parse(&["-d", "-a", "stdout", "busybox"]).create,
                true,
                false,
                &look
            )
            .is_err()
        );
    }

    #[test]
    fn env_file() {
        let look = |k: &str| (k == "FROM_ENV").then(|| "v".to_string());
        let text = "# comment\n\n  A=1\nB= spaced \nFROM_ENV\nNOT_SET\nC=x=y\n";
        assert_eq!(
            parse_env_file(text, &look, "f").unwrap(),
            ["A=1", "B= spaced ", "FROM_ENV=v", "C=x=y"]
        );
        assert!(parse_env_file("BAD NAME=1", &look, "f").is_err());
        assert!(parse_env_file("=1", &look, "f").is_err());
    }

    #[test]
    fn exit_codes() {
        assert_eq!(
            start_failure_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            start_failure_code("open /x: no such file or directory"),
            127
        );
        assert_eq!(start_failure_code("permission denied"), 126);
        assert_eq!(start_failure_code("something else"), 125);
    }
}
