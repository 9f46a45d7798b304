//! `berth monitor`: one container under its monitor, as the engine will start it. Exit codes
//! follow Docker's for a container that could not start: 127 when the program does not exist,
//! 126 when it cannot be executed, 125 for any other failure; 0 once the container ran (its own
//! exit code is in the exit record).

use std::path::PathBuf;

use berth_engine::logs::LogOptions;
use berth_engine::monitor::{self, Error, MonitorConfig};
use clap::Args;

#[derive(Args)]
pub struct MonitorArgs {
    /// The runtime's state root.
    #[arg(long, default_value = berth_runtime::state::DEFAULT_ROOT)]
    root: PathBuf,
    #[arg(long)]
    bundle: PathBuf,
    /// The json-file log to write.
    #[arg(long)]
    log: PathBuf,
    /// Where the exit record goes.
    #[arg(long)]
    exit_file: PathBuf,
    id: String,
}

pub fn main(args: MonitorArgs) -> i32 {
    let config = MonitorConfig {
        state_root: &args.root,
        id: &args.id,
        bundle: &args.bundle,
        log: &args.log,
        log_options: LogOptions::default(),
        exit_file: &args.exit_file,
    };
    match monitor::run(&config) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("berth: {e}");
            match e {
                Error::Runtime(berth_runtime::Error::ExecNotFound(_)) => 127,
                Error::Runtime(berth_runtime::Error::ExecDenied(_)) => 126,
                _ => 125,
            }
        }
    }
}
