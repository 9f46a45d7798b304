//! The attributes Docker gives a container's events (its name, image and labels) and the
//! one-line emit the container operations call.

use crate::engine::Engine;
use crate::events::EventType;

use super::Record;

/// `name`, `image` and the labels, then `extra` (`exitCode`, `signal`, ...).
fn attributes(rec: &Record, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut attrs: Vec<(String, String)> = rec
        .config
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    attrs.push(("name".into(), rec.name.clone()));
    attrs.push(("image".into(), rec.image.clone()));
    attrs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    attrs
}

impl Engine {
    /// Emits a container event; the container must still be registered.
    pub(crate) fn container_event(&self, id: &str, action: &str, extra: &[(&str, &str)]) {
        let attrs = {
            let reg = self.registry.lock().expect("registry lock");
            match reg.by_id.get(id) {
                Some(e) => attributes(&e.record, extra),
                None => return,
            }
        };
        self.emit_attrs(EventType::CONTAINER, action, id, &attrs);
    }

    /// Emits a container event from a record that has left the registry (`destroy`).
    pub(crate) fn removed_container_event(&self, rec: &Record, action: &str) {
        self.emit_attrs(EventType::CONTAINER, action, &rec.id, &attributes(rec, &[]));
    }

    fn emit_attrs(&self, typ: EventType, action: &str, id: &str, attrs: &[(String, String)]) {
        let refs: Vec<(&str, &str)> = attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.events.emit(typ, action, id, &refs);
    }
}

impl Engine {
    /// At a start: `connect` for each wired network and `mount` for each volume, as Docker
    /// tells them before the container's `start`.
    pub(crate) fn announce_wiring(&self, id: &str) {
        let (endpoints, mounts) = {
            let reg = self.registry.lock().expect("registry lock");
            match reg.by_id.get(id) {
                Some(e) => (e.record.state.endpoints.clone(), e.record.mounts.clone()),
                None => return,
            }
        };
        self.endpoint_events(id, &endpoints, "connect");
        self.volume_mount_events(id, &mounts);
    }
}
