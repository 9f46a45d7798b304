//! `run`: create, start, wait with signals forwarded, delete; returns the program's exit code.

use super::create::{CreateOptions, create};
use super::{delete, start};
use crate::error::Result;
use crate::process::signals;
use crate::state::StateRoot;

pub fn run(root: &StateRoot, options: &CreateOptions, detach: bool) -> Result<i32> {
    if !detach {
        signals::block()?;
    }
    let init = create(root, options)?;
    if let Err(e) = start(root, options.id) {
        let _ = delete(root, options.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = signals::forward_until_exit(init.pid);
    delete(root, options.id, true)?;
    code
}
