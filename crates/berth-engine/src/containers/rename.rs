//! `POST /containers/{id}/rename?name=`: the name index and the record change together, under
//! the registry lock; the record is rewritten atomically (write, fsync, rename) before the
//! index moves, so a failed write changes nothing.

use crate::engine::Engine;
use crate::error::{Error, Result};

use super::names;

impl Engine {
    pub fn rename_container(&self, name: &str, new_name: &str) -> Result<()> {
        if new_name.is_empty() {
            return Err(Error::InvalidArgument(
                "Neither old nor new names may be empty".into(),
            ));
        }
        let new_name = names::validate(new_name)?;
        let mut reg = self.registry.lock().expect("registry lock");
        let id = reg.find(name)?;
        if let Some(other) = reg.names.get(&new_name) {
            if *other == id {
                return Err(Error::InvalidArgument(
                    "Renaming a container with the same name as its current name".into(),
                ));
            }
            return Err(Error::Conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        let entry = reg.by_id.get_mut(&id).expect("found");
        let mut record = entry.record.clone();
        let old_name = std::mem::replace(&mut record.name, new_name.clone());
        record.save(&self.layout.dir(&id))?;
        entry.record = record;
        reg.names.remove(&old_name);
        reg.names.insert(new_name, id.clone());
        drop(reg);
        self.container_event(&id, "rename", &[("oldName", &format!("/{old_name}"))]);
        Ok(())
    }
}
