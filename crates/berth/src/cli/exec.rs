//! `berth exec`: docker's sequence — create the exec, start it on a hijacked connection (or
//! detached), pump the streams, then read the exit code from the exec's inspect.

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Body, Client, Error, enc};

use super::run::{env_lookup, expand_env, parse_env_file};
use super::stream::{self, Streams};
use super::{Exit, Res, term};

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short, long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]").
    #[arg(short, long)]
    pub user: Option<String>,
    /// Give extended privileges to the command.
    #[arg(long)]
    pub privileged: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub container: String,
    /// The command and its arguments (flags after the container are the command's).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND [ARG...]"
    )]
    pub command: Vec<String>,
}

/// The `POST /containers/{id}/exec` body.
fn create_body(a: &ExecArgs) -> Result<Value, String> {
    let mut env = Vec::new();
    for file in &a.env_file {
        let text = std::fs::read_to_string(file).map_err(|e| format!("open {file}: {e}"))?;
        env.extend(parse_env_file(&text, &env_lookup, file)?);
    }
    env.extend(expand_env(&a.env, &env_lookup));
    let mut body = json!({
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Tty": a.tty,
        "Privileged": a.privileged,
        "Env": env,
        "Cmd": a.command,
        "User": a.user.clone().unwrap_or_default(),
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
    });
    if let Some(keys) = &a.detach_keys {
        body["DetachKeys"] = json!(keys);
    }
    if a.tty
        && let Some((h, w)) = term::size()
    {
        body["ConsoleSize"] = json!([h, w]);
    }
    Ok(body)
}

pub fn exec(c: &Client, a: &ExecArgs) -> Res {
    if a.tty && a.interactive && !a.detach && !term::stdin_is_tty() {
        return Err(Exit::Msg("the input device is not a TTY".into(), 1));
    }
    let body = create_body(a).map_err(|e| Exit::Msg(e, 1))?;
    let created = c
        .post_json(
            &format!("/containers/{}/exec", enc(&a.container)),
            Some(&body),
        )
        .map_err(Exit::one)?;
    let id = created
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| Exit::one("the daemon returned no exec id"))?
        .to_string();
    let start = format!("/exec/{id}/start");
    if a.detach {
        let body = json!({ "Detach": true, "Tty": a.tty });
        c.request("POST", &start, Body::Json(&body))
            .and_then(|r| r.bytes())
            .map_err(Exit::one)?;
        return Ok(0);
    }
    let detach_keys = if a.tty && a.interactive {
        Some(
            stream::parse_detach_keys(a.detach_keys.as_deref().unwrap_or("ctrl-p,ctrl-q"))
                .map_err(|e| Exit::Msg(e, 1))?,
        )
    } else {
        None
    };
    if a.tty {
        stream::block_winch();
    }
    let body = json!({ "Detach": false, "Tty": a.tty });
    let mut h = c
        .hijack_with(&start, Body::Json(&body))
        .map_err(Exit::one)?;
    if a.tty && a.interactive && term::stdin_is_tty() {
        term::make_raw();
    }
    if a.tty {
        stream::track_size(c, &id, true);
    }
    let s = Streams {
        stdin: a.interactive,
        stdout: true,
        stderr: true,
    };
    if s.stdin {
        stream::spawn_stdin(&h, detach_keys).map_err(|e| Exit::one(Error::from(e)))?;
    }
    let _ = stream::pump_output(&mut h, a.tty);
    term::restore();
    exit_code(c, &id)
}

/// The exec's exit code once it is known (the daemon has it when the stream ends; a short
/// wait covers a monitor that is still writing it).
fn exit_code(c: &Client, id: &str) -> Res {
    for _ in 0..200 {
        let info = c.get_json(&format!("/exec/{id}/json")).map_err(Exit::one)?;
        if info.get("Running").and_then(Value::as_bool) != Some(true)
            && let Some(code) = info.get("ExitCode").and_then(Value::as_i64)
        {
            return Ok(code as i32);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(Exit::one("the exec's exit code did not arrive"))
}
