//! `berth`: the command line. Today it carries `berth oci`, the runc-compatible runtime; the
//! engine client verbs join it later.

mod oci;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A fast, Docker-compatible container engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The low-level OCI runtime, with runc's command line.
    Oci(oci::OciArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Oci(args) => oci::main(args),
    };
    std::process::exit(code);
}
