//! `docker save` and `docker load` over the image crate's archive reader and writer, with
//! Docker's messages.

use std::io::{Read, Write};

use berth_image::archive::{self, SaveItem};
use serde_json::json;

use crate::error::{Error, Result};

use super::Images;

/// The images a save will write, resolved before the response starts.
#[derive(Debug)]
pub struct SavePlan(Vec<SaveItem>);

impl Images {
    /// Resolves every name first, so an unknown one is a plain 404 before any byte is sent.
    pub fn plan_save(&self, names: &[String]) -> Result<SavePlan> {
        if names.is_empty() {
            return Err(Error::InvalidArgument(
                "no image names given to save".into(),
            ));
        }
        for n in names {
            self.resolve(n)?;
        }
        Ok(SavePlan(archive::plan_save(&self.store, names)?))
    }

    /// Streams the archive of `plan` to `out`. Blocking.
    pub fn save(&self, plan: &SavePlan, out: &mut dyn Write) -> Result<()> {
        Ok(archive::save(&self.store, &plan.0, out)?)
    }

    /// Loads an archive, sending Docker's messages to `emit`: layer progress unless `quiet`,
    /// then `Loaded image: NAME` per name or `Loaded image ID: ID` for an unnamed image.
    /// Blocking. On an error the rest of `src` is read and dropped (the client still gets the
    /// error), and nothing is tagged.
    pub fn load(
        &self,
        src: &mut dyn Read,
        quiet: bool,
        emit: &dyn Fn(serde_json::Value),
    ) -> Result<()> {
        let mut progress = |done: usize, total: usize| {
            if !quiet {
                emit(json!({
                    "status": "Loading layer",
                    "progressDetail": {"current": done, "total": total},
                    "progress": format!("{done}/{total} layers"),
                }));
            }
        };
        let intake = self.intake_guard();
        let res = archive::load(&self.store, &self.snapshots, &mut *src, &mut progress);
        drop(intake);
        let loaded = match res {
            Ok(l) => l,
            Err(e) => {
                let _ = std::io::copy(src, &mut std::io::sink());
                return Err(match e {
                    berth_image::Error::Archive { .. } => Error::InvalidArgument(e.to_string()),
                    e => e.into(),
                });
            }
        };
        for img in loaded {
            if img.names.is_empty() {
                emit(json!({"stream": format!("Loaded image ID: {}\n", img.id)}));
            }
            for n in &img.names {
                emit(json!({"stream": format!("Loaded image: {}\n", n.familiar())}));
            }
        }
        Ok(())
    }
}
