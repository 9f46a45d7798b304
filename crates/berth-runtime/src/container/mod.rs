//! The runtime's verbs, one file each, as the runc command line names them.

mod abandoned;
mod cgroup;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod start;
pub mod status;
pub mod update;

pub use create::{CreateOptions, create};
pub use delete::delete;
pub use exec::{ExecOptions, exec, spawn as spawn_exec};
pub use kill::{kill, kill_all, parse_signal};
pub use list::list;
pub use pause::{pause, resume};
pub use ps::pids;
pub use run::run;
pub use start::start;
pub use status::{Container, load};
pub use update::update;
