//! Volume events as Docker names them: `create` and `destroy` (from the store, whoever made
//! or removed the volume), `mount` and `unmount` (a container's start and exit). The actor is
//! the volume's name; the attributes are the driver and, for (un)mounts, the container.

use crate::containers::mounts::{MountKind, MountPlan};
use crate::engine::Engine;
use crate::events::{EventType, Events};

/// Emits one volume event with `driver` and `extra` as attributes.
pub(super) fn emit(events: &Events, action: &str, name: &str, extra: &[(&str, &str)]) {
    let mut attrs = vec![("driver", "local")];
    attrs.extend_from_slice(extra);
    events.emit(EventType::VOLUME, action, name, &attrs);
}

impl Engine {
    /// `mount` for each volume of a container that starts.
    pub(crate) fn volume_mount_events(&self, container: &str, mounts: &[MountPlan]) {
        for m in mounts.iter().filter(|m| m.kind == MountKind::Volume) {
            let rw = (!m.read_only).to_string();
            emit(
                &self.events,
                "mount",
                &m.name,
                &[
                    ("container", container),
                    ("destination", &m.destination),
                    ("propagation", &m.propagation),
                    ("read/write", &rw),
                ],
            );
        }
    }

    /// `unmount` for each volume of a container that stopped.
    pub(crate) fn volume_unmount_events(&self, container: &str, mounts: &[MountPlan]) {
        for m in mounts.iter().filter(|m| m.kind == MountKind::Volume) {
            emit(
                &self.events,
                "unmount",
                &m.name,
                &[("container", container)],
            );
        }
    }
}
