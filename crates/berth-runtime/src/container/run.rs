//! `run`: create, start, wait with signals forwarded, delete; returns the program's exit code.
//! The init does not wait on an exec fifo here (nobody else starts it), and with
//! `process.terminal` and no console socket, the runtime holds the pty itself.

use super::create::{CreateOptions, create_from};
use super::status::load;
use super::{delete, start};
use crate::error::Result;
use crate::process::init::has_poststart_hooks;
use crate::process::signals;
use crate::process::tty_proxy::{self, TtyProxy};
use crate::spec::Bundle;
use crate::state::StateRoot;

pub fn run(root: &StateRoot, mut options: CreateOptions, detach: bool) -> Result<i32> {
    let bundle = Bundle::load(options.bundle)?;
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let proxy = TtyProxy::if_needed(terminal, detach, &mut options.console_socket)?;
    if !detach {
        signals::block()?;
    }
    let id = options.id;
    options.start_at_once = true;
    let init = create_from(root, options, &bundle)?;
    let master = proxy.as_ref().map(TtyProxy::receive_master).transpose();
    let started = master.and_then(|m| {
        if has_poststart_hooks(&bundle.spec) {
            start::poststart(&load(root, id)?, &bundle.spec);
        }
        Ok(m)
    });
    let master = match started {
        Ok(master) => master,
        Err(e) => {
            let _ = delete(root, id, true);
            return Err(e);
        }
    };
    if detach {
        return Ok(0);
    }
    tracing::debug!("run: started");
    let code = match master {
        Some(master) => tty_proxy::pump_until_exit(master, init.pid),
        None => signals::forward_until_exit(init.pid),
    };
    tracing::debug!("run: exited");
    delete(root, id, true)?;
    code
}
