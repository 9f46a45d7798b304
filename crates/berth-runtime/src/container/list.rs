//! `list`: every container under the state root with its current status.

use super::status::load;
use crate::error::Result;
use crate::state::{OciState, StateRoot};

pub fn list(root: &StateRoot) -> Result<Vec<OciState>> {
    let mut states = Vec::new();
    for id in root.ids()? {
        // A container deleted while we list is simply not listed.
        if let Ok(container) = load(root, &id) {
            states.push(container.oci_state());
        }
    }
    Ok(states)
}
