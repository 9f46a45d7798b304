//! One stage's steps: the running config (env, cmd, ...), the ARGs in scope, and each
//! instruction's effect — a config-only image, a layer from the context, or a RUN container's
//! committed writable layer.

use std::collections::{HashMap, HashSet};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use berth_build::{Args, Instruction, expand_word, expand_words};
use berth_image::{CommitOptions, ConfigChanges, Image};
use bollard_stubs::models::{ContainerCreateBody, ContainerWaitResponse};
use nix::fcntl::OFlag;

use crate::api::{BuildRequest, LogsOptions};
use crate::containers::RootAccess;
use crate::engine::Engine;
use crate::error::{Error, Result};

use super::Emit;
use super::cache::{self, Cache};
use super::context::Context;
use super::copy::{CopySpec, copy_layer, parse_chmod, parse_chown};
use super::plan::{Plan, from_words};
use super::platform::{self, Platforms};

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

fn refused(what: &str) -> Error {
    bad(format!("{what} is not supported by berth yet"))
}

/// What every stage of one build shares (each stage's copy has its own `emit` and `say`).
#[derive(Clone, Copy)]
pub struct Build<'a> {
    pub engine: &'a Engine,
    pub ctx: &'a Context,
    pub req: &'a BuildRequest,
    pub plan: &'a Plan<'a>,
    /// The Dockerfile's escape character.
    pub escape: char,
    /// The raw stream (pull progress).
    pub emit: Emit<'a>,
    /// A line of the build's output (nothing when quiet).
    pub say: &'a (dyn Fn(String) + Sync),
    pub cache: &'a Cache,
    pub platforms: &'a Platforms,
    /// Set when another stage failed: no further step, a running RUN container killed.
    pub cancel: &'a tokio::sync::watch::Receiver<bool>,
}

/// See [`StageState::wait_stage`].
pub type WaitStage<'a> = &'a dyn Fn(usize) -> Option<Option<Image>>;

/// A stage being built.
pub struct StageState<'a> {
    b: &'a Build<'a>,
    /// The stages built so far, for `FROM stage` and `COPY --from`.
    done: &'a HashMap<usize, Option<Image>>,
    /// Waits for an earlier stage the plan could not see this one read (an ONBUILD trigger's
    /// `--from`, known only once the base image is); `None` when it will not be built.
    wait_stage: WaitStage<'a>,
    /// The image of the last step (`None` before the first layer of `FROM scratch`).
    pub image: Option<Image>,
    /// The platform asked for (`FROM --platform`, the build's `platform`), if any.
    platform: Option<berth_registry::Platform>,
    cfg: ConfigChanges,
    author: Option<String>,
    shell: Vec<String>,
    /// ARGs in scope with their values.
    args: Vec<(String, String)>,
    cmd_set: bool,
    /// Build args some ARG declared.
    pub used_args: HashSet<String>,
}

impl<'a> StageState<'a> {
    pub fn new(
        b: &'a Build<'a>,
        done: &'a HashMap<usize, Option<Image>>,
        wait_stage: WaitStage<'a>,
    ) -> StageState<'a> {
        StageState {
            b,
            done,
            wait_stage,
            image: None,
            platform: None,
            cfg: ConfigChanges::default(),
            author: None,
            shell: vec!["/bin/sh".into(), "-c".into()],
            args: Vec::new(),
            cmd_set: false,
            used_args: HashSet::new(),
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.cfg
            .env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix(&prefix).map(str::to_string))
            .or_else(|| {
                self.args
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
    }

    fn word(&self, s: &str, line: usize) -> Result<String> {
        expand_word(s, &|n| self.lookup(n), self.b.escape)
            .map_err(|e| bad(format!("line {line}: {e}")))
    }

    fn words(&self, ins: &Instruction) -> Result<Vec<String>> {
        match &ins.args {
            Args::Exec(v) => v.iter().map(|w| self.word(w, ins.line)).collect(),
            Args::Shell(s) => expand_words(s, &|n| self.lookup(n), self.b.escape)
                .map_err(|e| bad(format!("line {}: {e}", ins.line))),
        }
    }

    /// The value of a global ARG for `FROM` lines; Docker's automatic platform ARGs are
    /// global ones nobody has to declare.
    fn global_arg(&self, name: &str) -> Option<String> {
        for ins in self.b.plan.global_args.iter().rev() {
            for w in ins.text().split_whitespace() {
                let (k, default) = w.split_once('=').map_or((w, None), |(k, v)| (k, Some(v)));
                if k == name {
                    return match self.b.req.build_args.get(name) {
                        Some(Some(v)) => Some(v.clone()),
                        _ => default
                            .map(str::to_string)
                            .or_else(|| self.b.platforms.arg(name)),
                    };
                }
            }
        }
        self.b.platforms.arg(name)
    }

    pub fn step(&mut self, ins: &Instruction) -> Result<()> {
        match ins.keyword.as_str() {
            "FROM" => self.from(ins),
            "ARG" => self.arg(ins),
            "RUN" => self.run(ins),
            "COPY" | "ADD" => self.copy(ins),
            _ => {
                self.configure(ins)?;
                // ONBUILD's trigger is kept as written: it is expanded when it runs.
                let text = match ins.keyword.as_str() {
                    "ONBUILD" => format!("ONBUILD {}", as_written(ins)),
                    _ => self
                        .word(&ins.original, ins.line)
                        .unwrap_or_else(|_| ins.original.clone()),
                };
                let created_by = format!("/bin/sh -c #(nop)  {text}");
                let key = self.key(&[&created_by]);
                if self.cached(&key) {
                    return Ok(());
                }
                match self.missing_workdir(ins) {
                    Some(dir) => self.make_dir(dir, created_by)?,
                    None => self.amend(created_by)?,
                }
                self.remember(&key)
            }
        }
    }

    /// After `WORKDIR`: the directory, when the image does not have it yet.
    fn missing_workdir(&self, ins: &Instruction) -> Option<PathBuf> {
        let dir = PathBuf::from(
            self.cfg
                .workdir
                .as_ref()
                .filter(|_| ins.keyword == "WORKDIR")?,
        );
        self.image_stat()(&dir).is_none().then_some(dir)
    }

    /// A layer with `dir` and its missing parents (`WORKDIR` makes its directory, as Docker's).
    fn make_dir(&mut self, dir: PathBuf, created_by: String) -> Result<()> {
        let spec = CopySpec {
            sources: Vec::new(),
            dest: dir,
            dest_is_dir: true,
            owner: None,
            mode: None,
            extract_archives: false,
        };
        let image_stat = self.image_stat();
        let tar = copy_layer(self.b.ctx, &spec, &|p| image_stat(p))?;
        let options = self.options(created_by);
        self.image = Some(
            self.b
                .engine
                .images
                .commit(self.image.as_ref(), tar, &options)?,
        );
        Ok(())
    }

    /// The cache key of a step with `parts` on the current image, build args, shell and
    /// author.
    fn key(&self, parts: &[&str]) -> String {
        let parent = self.image.as_ref().map_or_else(
            || format!("scratch {}", self.scratch_platform()),
            |i| i.id.to_string(),
        );
        let args = serde_json::to_string(&self.args).unwrap_or_default();
        let shell = self.shell.join("\0");
        let author = self.author.clone().unwrap_or_default();
        let mut all = vec![parent.as_str(), &args, &shell, &author];
        all.extend_from_slice(parts);
        cache::key(&all)
    }

    /// Takes the step's image from the cache (unless `nocache`); whether it was there.
    fn cached(&mut self, key: &str) -> bool {
        if self.b.req.no_cache {
            return false;
        }
        match self.b.cache.get(&self.b.engine.images, key) {
            Some(img) => {
                (self.b.say)(" ---> Using cache\n".into());
                self.image = Some(img);
                true
            }
            None => false,
        }
    }

    /// Records the step's image under `key`.
    fn remember(&self, key: &str) -> Result<()> {
        match &self.image {
            Some(img) => self.b.cache.put(key, img),
            None => Ok(()),
        }
    }

    fn amend(&mut self, created_by: String) -> Result<()> {
        let options = self.options(created_by);
        self.image = Some(self.b.engine.images.amend(self.image.as_ref(), &options)?);
        Ok(())
    }

    fn options(&self, created_by: String) -> CommitOptions {
        CommitOptions {
            reference: None,
            config: self.cfg.clone(),
            created_by,
            comment: None,
            author: self.author.clone(),
            platform: Some(self.scratch_platform().into()),
        }
    }

    /// The platform of an image this stage starts from nothing (`FROM scratch`).
    fn scratch_platform(&self) -> berth_registry::Platform {
        self.platform
            .clone()
            .unwrap_or_else(|| self.b.platforms.target().clone())
    }

    fn from(&mut self, ins: &Instruction) -> Result<()> {
        let (raw, _) = from_words(ins)?;
        let global = |w: &str| {
            expand_word(w, &|n| self.global_arg(n), self.b.escape)
                .map_err(|e| bad(format!("line {}: {e}", ins.line)))
        };
        let name = global(&raw)?;
        self.platform = match ins.flag("platform") {
            Some(p) => Some(
                crate::images::parse_platform(&global(p)?)
                    .map_err(|e| bad(format!("line {}: FROM --platform: {e}", ins.line)))?,
            ),
            None => self.b.platforms.requested.clone(),
        };
        self.image = if name.eq_ignore_ascii_case("scratch") {
            None
        } else if let Some(i) = self
            .b
            .plan
            .stage_named(&name)
            .filter(|i| self.done.contains_key(i))
        {
            self.done[&i].clone()
        } else {
            Some(self.base_image(&name)?)
        };
        self.cfg = self
            .image
            .as_ref()
            .map(|i| config_of(&self.b.engine.images, i))
            .unwrap_or_default();
        // The base's triggers run now; the stage's image does not inherit them.
        let triggers = std::mem::take(&mut self.cfg.on_build);
        self.run_triggers(&name, &triggers)
    }

    /// The base image's `ONBUILD` triggers, each parsed and run as a step of this stage (in
    /// this build's context), announced as Docker's classic builder does.
    fn run_triggers(&mut self, base: &str, triggers: &[String]) -> Result<()> {
        if triggers.is_empty() {
            return Ok(());
        }
        let plural = if triggers.len() > 1 { "s" } else { "" };
        (self.b.say)(format!(
            "# Executing {} build trigger{plural}\n",
            triggers.len()
        ));
        for trigger in triggers {
            let failed = |why: String| bad(format!("ONBUILD trigger {trigger:?} of {base}: {why}"));
            let df = berth_build::parse("ONBUILD", trigger).map_err(|e| failed(e.to_string()))?;
            let [ins] = df.instructions.as_slice() else {
                return Err(failed("a trigger must be a single instruction".into()));
            };
            if ["FROM", "ONBUILD", "MAINTAINER"].contains(&ins.keyword.as_str()) {
                return Err(failed(format!(
                    "{} isn't allowed as an ONBUILD trigger",
                    ins.keyword
                )));
            }
            self.step(ins).map_err(|e| failed(e.to_string()))?;
        }
        Ok(())
    }

    /// A base image for the stage's platform, pulled when missing (or always with `pull`).
    /// A local image of another platform is pulled again for this one when it has a
    /// registry name; an image named by id cannot be, and is refused.
    fn base_image(&self, name: &str) -> Result<Image> {
        let want = self.platform.as_ref();
        let wanted = || want.map(|w| w.to_string()).unwrap_or_default();
        let fits = |img: &Image| {
            want.is_none_or(|w| {
                let have = platform::of_image(img);
                w.matches(&have.os, &have.architecture, have.variant.as_deref())
            })
        };
        // The platform of a local image that does not fit, for the errors.
        let mut local = None;
        if !self.b.req.pull
            && let Ok(img) = self.b.engine.images.resolve(name)
        {
            if fits(&img) {
                return Ok(img);
            }
            let have = platform::of_image(&img);
            if img
                .id
                .hex()
                .starts_with(name.strip_prefix("sha256:").unwrap_or(name))
            {
                return Err(bad(format!(
                    "the base image {name} is {have}, not the requested {}, and an image id cannot be pulled for another platform",
                    wanted()
                )));
            }
            local = Some(have);
        }
        let pull = crate::api::PullRequest {
            image: name.to_string(),
            platform: want.map(|w| w.to_string()),
            auth: None,
        };
        let emit = self.b.emit;
        let quiet = self.b.req.quiet;
        self.b
            .engine
            .pull_image(&pull, &|v| {
                if !quiet {
                    emit(v)
                }
            })
            .map_err(|e| match &local {
                Some(have) => bad(format!(
                    "the local image {name} is {have}, not the requested {}, and pulling it for {} failed: {e}",
                    wanted(),
                    wanted()
                )),
                None => bad(format!("the base image {name} cannot be had: {e}")),
            })?;
        let img = self.b.engine.images.resolve(name)?;
        if !fits(&img) {
            return Err(bad(format!(
                "the base image {name} pulled for {} is {}",
                wanted(),
                platform::of_image(&img)
            )));
        }
        Ok(img)
    }

    fn arg(&mut self, ins: &Instruction) -> Result<()> {
        for w in self.words(ins)? {
            let (name, default) = w
                .split_once('=')
                .map_or((w.as_str(), None), |(k, v)| (k, Some(v)));
            if name.is_empty() {
                return Err(bad(format!("line {}: ARG requires a name", ins.line)));
            }
            self.used_args.insert(name.to_string());
            let value = match self.b.req.build_args.get(name) {
                Some(Some(v)) => Some(v.clone()),
                _ => default
                    .map(str::to_string)
                    .or_else(|| self.global_arg(name)),
            };
            if let Some(v) = value {
                self.args.push((name.to_string(), v));
            }
        }
        Ok(())
    }

    /// The config instructions.
    fn configure(&mut self, ins: &Instruction) -> Result<()> {
        match ins.keyword.as_str() {
            "ENV" | "LABEL" => {
                let pairs = key_values(&self.words(ins)?, ins)?;
                let cfg = &mut self.cfg;
                for (k, v) in pairs {
                    if ins.keyword == "ENV" {
                        let prefix = format!("{k}=");
                        cfg.env.retain(|e| !e.starts_with(&prefix));
                        cfg.env.push(format!("{k}={v}"));
                    } else {
                        cfg.labels.insert(k, v);
                    }
                }
            }
            "CMD" => {
                self.cfg.cmd = Some(self.command(ins));
                self.cmd_set = true;
            }
            "ENTRYPOINT" => {
                let e = self.command(ins);
                self.cfg.entrypoint = (!e.is_empty()).then_some(e);
                if !self.cmd_set {
                    self.cfg.cmd = None;
                }
            }
            "SHELL" => {
                if let Args::Exec(v) = &ins.args {
                    self.shell = v.clone();
                }
            }
            "WORKDIR" => {
                let w = self.word(&ins.text(), ins.line)?;
                let base = PathBuf::from(self.cfg.workdir.clone().unwrap_or_else(|| "/".into()));
                self.cfg.workdir = Some(base.join(w).to_string_lossy().into_owned());
            }
            "USER" => self.cfg.user = Some(self.word(&ins.text(), ins.line)?),
            "HEALTHCHECK" => {
                // Flags and all, as written (HEALTHCHECK takes no variables, as Docker's).
                self.cfg.healthcheck = Some(
                    crate::images::healthcheck::parse_instruction(&as_written(ins))
                        .map_err(|e| bad(format!("line {}: {e}", ins.line)))?,
                )
            }
            "STOPSIGNAL" => self.cfg.stop_signal = Some(self.word(&ins.text(), ins.line)?),
            "ONBUILD" => self.cfg.on_build.push(
                crate::images::onbuild_trigger(&as_written(ins))
                    .map_err(|e| bad(format!("line {}: {e}", ins.line)))?,
            ),
            "MAINTAINER" => self.author = Some(self.word(&ins.text(), ins.line)?),
            "EXPOSE" => {
                for p in self.words(ins)? {
                    let p = if p.contains('/') {
                        p
                    } else {
                        format!("{p}/tcp")
                    };
                    if !self.cfg.exposed_ports.contains(&p) {
                        self.cfg.exposed_ports.push(p);
                    }
                }
            }
            "VOLUME" => {
                for v in self.words(ins)? {
                    if !self.cfg.volumes.contains(&v) {
                        self.cfg.volumes.push(v);
                    }
                }
            }
            other => return Err(refused(other)),
        }
        Ok(())
    }

    /// CMD/ENTRYPOINT/RUN's argv: the exec form as is, the shell form through the SHELL.
    fn command(&self, ins: &Instruction) -> Vec<String> {
        match &ins.args {
            Args::Exec(v) => v.clone(),
            Args::Shell(s) if s.is_empty() => Vec::new(),
            Args::Shell(s) => self.shell.iter().cloned().chain([s.clone()]).collect(),
        }
    }

    fn run(&mut self, ins: &Instruction) -> Result<()> {
        if let Some((flag, _)) = ins.flags.first() {
            return Err(refused(&format!("RUN --{flag}")));
        }
        let argv = match ins.heredocs.as_slice() {
            [] => self.command(ins),
            [doc]
                if ins.text().trim() == format!("<<{}", doc.name)
                    || ins.text().trim() == format!("<<-{}", doc.name) =>
            {
                self.shell
                    .iter()
                    .cloned()
                    .chain([doc.content.clone()])
                    .collect()
            }
            _ => {
                return Err(refused(
                    "RUN with here-documents other than a single script (RUN <<EOF)",
                ));
            }
        };
        let key = self.key(&["RUN", &serde_json::to_string(&argv).unwrap_or_default()]);
        if self.cached(&key) {
            return Ok(());
        }
        let parent = self.image.clone().ok_or_else(|| {
            bad(format!(
                "line {}: RUN needs a base image: this stage has no files yet (FROM scratch)",
                ins.line
            ))
        })?;
        platform::check_runnable(&platform::of_image(&parent), &self.b.platforms.build)
            .map_err(|e| bad(format!("line {}: {e}", ins.line)))?;
        let mut env = self.cfg.env.clone();
        for (k, v) in &self.args {
            if self
                .cfg
                .env
                .iter()
                .all(|e| !e.starts_with(&format!("{k}=")))
            {
                env.push(format!("{k}={v}"));
            }
        }
        let body = ContainerCreateBody {
            image: Some(parent.id.to_string()),
            cmd: Some(argv.clone()),
            entrypoint: Some(Vec::new()),
            env: Some(env),
            working_dir: self.cfg.workdir.clone(),
            user: self.cfg.user.clone(),
            ..Default::default()
        };
        let created = self.b.engine.create_container(None, body)?;
        let id = created.id;
        (self.b.say)(format!(" ---> Running in {}\n", &id[..12]));
        let rt = tokio::runtime::Handle::current();
        let res = rt.block_on(async {
            let mut cancel = self.b.cancel.clone();
            tokio::select! {
                res = self.run_container(&id, &parent, &argv) => res,
                Ok(_) = cancel.wait_for(|c| *c) => {
                    let _ = self.b.engine.kill_container(&id, None).await;
                    Err(bad("cancelled: another stage of the build failed"))
                }
            }
        });
        if self.b.req.remove || (res.is_err() && self.b.req.force_remove) {
            let _ = rt.block_on(self.b.engine.remove_container(&id, true, true));
            (self.b.say)(format!("Removing intermediate container {}\n", &id[..12]));
        }
        self.image = Some(res?);
        self.remember(&key)
    }

    async fn run_container(&self, id: &str, parent: &Image, argv: &[String]) -> Result<Image> {
        self.b.engine.start_container(id).await?;
        let mut logs = self.b.engine.container_logs(
            id,
            LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            },
        )?;
        let mut frames = crate::logs::FrameDecoder::new();
        while let Some(chunk) = logs.chunks.recv().await {
            frames.push(&chunk);
            while let Ok(Some((_, payload))) = frames.next_frame() {
                (self.b.say)(String::from_utf8_lossy(&payload).into_owned());
            }
        }
        // The log ends when the container stops; its exit code is then recorded.
        let exited = self
            .b
            .engine
            .wait_container(id, crate::api::WaitCondition::NotRunning)?;
        let code = match exited.await {
            Ok(ContainerWaitResponse { status_code, .. }) => status_code,
            Err(_) => -1,
        };
        let shown = argv.join(" ");
        if code != 0 {
            return Err(bad(format!(
                "The command '{shown}' returned a non-zero code: {code}"
            )));
        }
        let skip = {
            let reg = self.b.engine.registry.lock().expect("registry lock");
            let mut skip: Vec<PathBuf> = reg
                .get(id)?
                .record
                .mounts
                .iter()
                .map(|m| PathBuf::from(&m.destination))
                .collect();
            skip.extend(crate::containers::runtime_mount_points());
            skip
        };
        let args: Vec<String> = self.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let created_by = if args.is_empty() {
            shown
        } else {
            format!("|{} {} {shown}", args.len(), args.join(" "))
        };
        self.b
            .engine
            .commit_layer_of(
                id,
                &parent.id.to_string(),
                skip,
                false,
                self.options(created_by),
            )
            .await
    }

    fn copy(&mut self, ins: &Instruction) -> Result<()> {
        let kw = ins.keyword.as_str();
        for f in ["parents", "exclude", "checksum", "keep-git-dir"] {
            if ins.flag(f).is_some() {
                return Err(refused(&format!("{kw} --{f}")));
            }
        }
        if !ins.heredocs.is_empty() {
            return Err(refused(&format!("{kw} with a here-document")));
        }
        let mut words = self.words(ins)?;
        if words.len() < 2 {
            return Err(bad(format!(
                "line {}: {kw} requires at least two arguments",
                ins.line
            )));
        }
        let dest_word = words.pop().unwrap_or_default();
        let workdir = PathBuf::from(self.cfg.workdir.clone().unwrap_or_else(|| "/".into()));
        let dest = workdir.join(&dest_word);
        let owner = ins.flag("chown").map(parse_chown).transpose()?;
        let mode = ins.flag("chmod").map(parse_chmod).transpose()?;
        let from = match ins.flag("from") {
            Some(f) => Some(self.source_image(f, ins.line)?),
            None => None,
        };
        let created_by = format!(
            "/bin/sh -c #(nop) {kw} {} in {} ",
            words.join(" "),
            dest.display()
        );
        let remote = if kw == "ADD" && words.iter().any(|w| w.contains("://")) {
            if from.is_some() || !words.iter().all(|w| w.contains("://")) {
                return Err(refused("ADD of URLs together with local files or --from"));
            }
            let dir = tempfile::Builder::new()
                .prefix(&super::context::scratch_prefix("add"))
                .tempdir_in(self.b.engine.config.data_root.join("build-tmp"))
                .map_err(|e| Error::internal("ADD download directory", e))?;
            let names = super::remote::fetch_all(&words, dir.path())?;
            Some((Context::owning(dir), names))
        } else {
            None
        };
        // What is read: an image is its id; files, their content.
        let content = match (&from, &remote) {
            (Some(img), _) => img.id.to_string(),
            (None, Some((tree, names))) => {
                cache::content_hash(tree, names, &self.b.engine.build_digests)?
            }
            (None, None) => {
                let mut sources = Vec::new();
                for w in &words {
                    sources.extend(self.b.ctx.sources(w)?);
                }
                cache::content_hash(self.b.ctx, &sources, &self.b.engine.build_digests)?
            }
        };
        let flags = serde_json::to_string(&ins.flags).unwrap_or_default();
        let key = self.key(&[&created_by, &flags, &content]);
        if self.cached(&key) {
            return Ok(());
        }
        let image_stat = self.image_stat();
        let holder;
        let tree: &Context = match (&from, &remote) {
            (Some(img), _) => {
                holder = SourceRoot::open(self.b.engine, img)?;
                &holder.ctx
            }
            (None, Some((t, _))) => t,
            (None, None) => self.b.ctx,
        };
        let sources = match &remote {
            Some((_, names)) => names.clone(),
            None => {
                let mut sources = Vec::new();
                for w in &words {
                    sources.extend(tree.sources(w)?);
                }
                sources
            }
        };
        let single_dir = sources.len() == 1
            && std::fs::metadata(tree.root().join(&sources[0])).is_ok_and(|m| m.is_dir());
        let spec = CopySpec {
            dest_is_dir: dest_word.ends_with('/') || sources.len() > 1 || single_dir,
            sources,
            dest: dest.clone(),
            owner,
            mode,
            extract_archives: kw == "ADD" && from.is_none() && remote.is_none(),
        };
        let tar = copy_layer(tree, &spec, &|p| image_stat(p))?;
        let options = self.options(created_by);
        self.image = Some(
            self.b
                .engine
                .images
                .commit(self.image.as_ref(), tar, &options)?,
        );
        self.remember(&key)
    }

    /// `--from=`: an earlier stage's image or an image by name.
    fn source_image(&self, name: &str, line: usize) -> Result<Image> {
        match self.b.plan.stage_named(name) {
            Some(i) => {
                let image = match self.done.get(&i) {
                    Some(image) => image.clone(),
                    None => (self.wait_stage)(i).ok_or_else(|| {
                        bad(format!(
                            "line {line}: --from={name}: that stage is not an earlier one of this build"
                        ))
                    })?,
                };
                image.ok_or_else(|| {
                    bad(format!(
                        "line {line}: --from={name}: that stage has no files (FROM scratch)"
                    ))
                })
            }
            None => self.base_image(name),
        }
    }

    /// What the current image has at an absolute path (the top layer that has it decides).
    fn image_stat(&self) -> impl Fn(&Path) -> Option<nix::sys::stat::FileStat> + use<> {
        let lowers: Vec<std::fs::File> = self
            .image
            .as_ref()
            .and_then(|i| i.chain_ids().ok())
            .unwrap_or_default()
            .iter()
            .rev()
            .filter_map(|c| std::fs::File::open(self.b.engine.images.snapshots().fs_path(c)).ok())
            .collect();
        move |p: &Path| crate::containers::image_stat(&lowers, p)
    }
}

/// An image's files for `COPY --from`: a container of it that is never started, its root
/// mounted while this lives; the mount goes and the container is removed on drop.
struct SourceRoot<'a> {
    engine: &'a Engine,
    id: String,
    ctx: Context,
    root: Option<(RootAccess, std::os::fd::OwnedFd)>,
}

impl<'a> SourceRoot<'a> {
    fn open(engine: &'a Engine, image: &Image) -> Result<SourceRoot<'a>> {
        let body = ContainerCreateBody {
            image: Some(image.id.to_string()),
            cmd: Some(vec!["true".into()]),
            entrypoint: Some(Vec::new()),
            ..Default::default()
        };
        let id = engine.create_container(None, body)?.id;
        let mut me = SourceRoot {
            engine,
            id,
            ctx: Context::at(PathBuf::new()),
            root: None,
        };
        let (_, access) = engine.open_root(&me.id, false)?;
        let fd = access.open(Path::new("/"), OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        me.ctx = Context::at(PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())));
        me.root = Some((access, fd));
        Ok(me)
    }
}

impl Drop for SourceRoot<'_> {
    fn drop(&mut self) {
        drop(self.root.take());
        let _ = tokio::runtime::Handle::current()
            .block_on(self.engine.remove_container(&self.id, true, true));
    }
}

/// ENV/LABEL words as pairs: `K=V` words, or the legacy `K V...` form.
fn key_values(words: &[String], ins: &Instruction) -> Result<Vec<(String, String)>> {
    if words.first().is_some_and(|w| !w.contains('=')) {
        let k = words[0].clone();
        return Ok(vec![(k, words[1..].join(" "))]);
    }
    words
        .iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    bad(format!(
                        "line {}: {} {w}: missing '='",
                        ins.line, ins.keyword
                    ))
                })
        })
        .collect()
}

/// An image's runtime config as the changes a build starts from.
pub fn config_of(images: &crate::images::Images, img: &Image) -> ConfigChanges {
    let Some(c) = img.config.config() else {
        return ConfigChanges::default();
    };
    ConfigChanges {
        cmd: c.cmd().clone(),
        entrypoint: c.entrypoint().clone(),
        env: c.env().clone().unwrap_or_default(),
        workdir: c.working_dir().clone().filter(|w| !w.is_empty()),
        user: c.user().clone().filter(|u| !u.is_empty()),
        labels: c.labels().clone().unwrap_or_default(),
        exposed_ports: c.exposed_ports().clone().unwrap_or_default(),
        volumes: c.volumes().clone().unwrap_or_default(),
        stop_signal: c.stop_signal().clone(),
        healthcheck: images
            .healthcheck(img)
            .and_then(|h| serde_json::to_value(h).ok()),
        on_build: images.on_build(img),
    }
}

/// The instruction as written after its keyword, flags and all (`HEALTHCHECK`; `ONBUILD`'s
/// trigger, as Docker stores it).
fn as_written(ins: &Instruction) -> String {
    let written = ins.original.trim_start();
    written
        .get(ins.keyword.len()..)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `--label`s of the build on the final image (a cached step like the others).
pub fn add_labels(
    engine: &Engine,
    image: &Image,
    labels: &HashMap<String, String>,
    cache: &Cache,
    no_cache: bool,
) -> Result<Image> {
    let mut shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    shown.sort();
    let created_by = format!("/bin/sh -c #(nop)  LABEL {}", shown.join(" "));
    let key = cache::key(&[&image.id.to_string(), &created_by]);
    if !no_cache && let Some(hit) = cache.get(&engine.images, &key) {
        return Ok(hit);
    }
    let mut cfg = config_of(&engine.images, image);
    cfg.labels.extend(labels.clone());
    let options = CommitOptions {
        config: cfg,
        created_by,
        author: image.config.author().clone(),
        ..Default::default()
    };
    let labelled = engine.images.amend(Some(image), &options)?;
    cache.put(&key, &labelled)?;
    Ok(labelled)
}
