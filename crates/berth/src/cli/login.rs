//! `berth login` and `berth logout`: the daemon checks the credentials against the registry
//! (`POST /auth`); they are kept in docker's `config.json` (see `credentials`).

use std::io::{BufRead, Write};

use clap::Args;
use serde_json::json;

use super::credentials;
use super::{Exit, Res, term};
use crate::client::Client;

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password.
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin.
    #[arg(long = "password-stdin", conflicts_with = "password")]
    pub password_stdin: bool,
    /// The registry (Docker Hub if none).
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry (Docker Hub if none).
    pub server: Option<String>,
}

pub fn login(c: &Client, a: &LoginArgs) -> Res {
    if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let interactive = term::stdin_is_tty();
    let username = match &a.username {
        Some(u) => u.clone(),
        None if interactive && !a.password_stdin => prompt("Username: ")?,
        None => {
            return Err(Exit::one(
                "Must provide --username with --password-stdin, or log in from a terminal",
            ));
        }
    };
    let password = if a.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(Exit::one)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &a.password {
        p.clone()
    } else if interactive {
        term::without_echo(|| prompt("Password: ")).map_err(Exit::one)??
    } else {
        return Err(Exit::one(
            "Cannot perform an interactive login from a non TTY device",
        ));
    };
    if username.is_empty() || password.is_empty() {
        return Err(Exit::one("Error: username and password are required"));
    }
    let key = credentials::server_key(a.server.as_deref());
    c.post_json(
        "/auth",
        Some(&json!({"username": username, "password": password, "serveraddress": key})),
    )
    .map_err(Exit::one)?;
    credentials::store(&key, &username, &password).map_err(|e| {
        Exit::one(format!(
            "Error saving credentials in {}: {e}",
            credentials::config_path().display()
        ))
    })?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(a: &LogoutArgs) -> Res {
    let key = credentials::server_key(a.server.as_deref());
    match credentials::remove(&key) {
        Ok(true) => println!("Removing login credentials for {key}"),
        Ok(false) => println!("Not logged in to {key}"),
        Err(e) => return Err(Exit::one(e)),
    }
    Ok(0)
}

fn prompt(label: &str) -> Result<String, Exit> {
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(Exit::one)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
