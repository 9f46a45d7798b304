//! `berth monitor-zygote --socket PATH`: the long-lived, single-threaded process the engine
//! asks for container monitors (see `berth_engine::monitor`). It exits 0 after a shutdown
//! request once its last monitor has exited, 1 on failure.

use std::path::PathBuf;

use clap::Args;

#[derive(Args)]
pub struct ZygoteArgs {
    /// The socket to listen on (created with mode 0600).
    #[arg(long)]
    socket: PathBuf,
}

pub fn main(args: ZygoteArgs) -> i32 {
    match berth_engine::monitor::serve_zygote(&args.socket) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth monitor-zygote: {e}");
            1
        }
    }
}
