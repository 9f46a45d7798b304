//! Errors go to stderr and, with `--log`, to the log file in runc's shape (containerd reads the
//! last error line of a runtime's log to explain a failure).

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub struct Logger {
    file: Option<PathBuf>,
    format: Format,
}

impl Logger {
    pub fn new(file: Option<PathBuf>, format: Format, debug: bool) -> Logger {
        let level = if debug { "debug" } else { "warn" };
        let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
        let builder = tracing_subscriber::fmt().with_env_filter(filter);
        let opened = file.as_ref().and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        });
        let _ = match (opened, format) {
            (Some(f), Format::Json) => builder
                .json()
                .with_writer(std::sync::Mutex::new(f))
                .try_init(),
            (Some(f), Format::Text) => builder.with_writer(std::sync::Mutex::new(f)).try_init(),
            (None, _) => builder.with_writer(std::io::stderr).try_init(),
        };
        Logger { file, format }
    }

    /// Reports a failure on stderr and in the log file.
    pub fn error(&self, message: &str) {
        eprintln!("berth: {message}");
        let Some(path) = &self.file else { return };
        let line = match self.format {
            Format::Json => serde_json::json!({
                "level": "error",
                "msg": message,
                "time": berth_runtime::state::now_rfc3339(),
            })
            .to_string(),
            Format::Text => format!("level=error msg={message:?}"),
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
