//! `POST /build`: Docker's classic builder. The context tar is unpacked, the Dockerfile
//! parsed by berth-build, the stages the target needs run in order, each step recorded as
//! an image: `RUN` in a container on the previous step's image (its writable layer committed
//! as the step's layer), `COPY`/`ADD` as a layer written straight from the context, the
//! config instructions as config-only images. Progress is Docker's JSON stream.

mod cache;
mod context;
mod copy;
pub(crate) mod digests;
mod plan;
mod platform;
mod remote;
mod stages;
mod step;

use std::io::Read;

use serde_json::{Value, json};

use crate::api::BuildRequest;
use crate::engine::Engine;
use crate::error::{Error, Result};

use context::Context;
use plan::Plan;
use step::Build;

/// Sends one JSON message of the build's stream.
pub type Emit<'a> = &'a (dyn Fn(Value) + Sync);

impl Engine {
    /// Builds the image the context and request describe; returns its id. Blocking: call
    /// from a blocking task of the runtime (RUN steps wait on containers through it).
    pub fn build_image(
        &self,
        body: &mut dyn Read,
        req: BuildRequest,
        emit: Emit,
    ) -> Result<String> {
        let platforms = platform::Platforms::new(req.platform.as_deref())?;
        let tags = req
            .tags
            .iter()
            .map(|t| {
                berth_image::Reference::parse(t).map_err(|e| {
                    Error::InvalidArgument(format!(
                        "invalid tag {t:?}: invalid reference format: {e}"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let ctx = match &req.context_dir {
            Some(dir) => {
                tracing::debug!(dir = %dir.display(), "build context read in place");
                Context::local(dir)?
            }
            None => Context::unpack(body, &self.config.data_root.join("build-tmp"))?,
        };
        let name = req
            .dockerfile
            .clone()
            .unwrap_or_else(|| "Dockerfile".into());
        let text = ctx.read_text(&name)?;
        let df =
            berth_build::parse(&name, &text).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let plan = Plan::new(&df, req.target.as_deref())?;
        let cache = cache::Cache::open(&self.config.data_root)?;
        let say = |s: String| {
            if !req.quiet {
                emit(json!({ "stream": s }));
            }
        };
        let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
        let build = Build {
            engine: self,
            ctx: &ctx,
            req: &req,
            plan: &plan,
            escape: df.escape,
            emit,
            say: &say,
            cache: &cache,
            platforms: &platforms,
            cancel: &cancel_rx,
        };
        let stages::Built {
            mut images,
            used_args,
        } = stages::run(&build, &cancel_tx)?;
        let last = *plan.order.last().expect("a plan has a stage");
        let mut image = images.remove(&last).flatten().ok_or_else(|| {
            Error::InvalidArgument("No image was generated. Is your Dockerfile empty?".into())
        })?;
        if !req.labels.is_empty() {
            image = step::add_labels(self, &image, &req.labels, &cache, req.no_cache)?;
        }
        let unused: Vec<&String> = req
            .build_args
            .keys()
            .filter(|k| !used_args.contains(*k))
            .collect();
        if !unused.is_empty() {
            let mut names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            names.sort();
            say(format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                names.join(" ")
            ));
        }
        let id = image.id.to_string();
        emit(json!({ "aux": { "ID": id } }));
        say(format!("Successfully built {}\n", &image.id.hex()[..12]));
        for t in &tags {
            self.images.tag(&id, &t.name(), t.tag.as_deref())?;
            say(format!("Successfully tagged {}\n", t.familiar()));
        }
        if req.quiet {
            emit(json!({ "stream": format!("{id}\n") }));
        }
        self.events
            .emit(crate::events::EventType::IMAGE, "build", &id, &[]);
        Ok(id)
    }

    /// `POST /build/prune`: forgets every cache entry (their images, when nothing else names
    /// them, are dangling for `image prune`). Returns how many entries went.
    pub fn prune_build_cache(&self) -> Result<usize> {
        cache::Cache::open(&self.config.data_root)?.clear()
    }
}
