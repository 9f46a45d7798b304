//! The engine: one value the API layer holds, with a method per Docker operation.
//!
//! Methods that only read or write metadata are synchronous and quick; the ones that wait on a
//! container (start, stop, attach) are `async`. `import_image` reads its tarball synchronously:
//! call it from a blocking task.

use std::io::Read;
use std::sync::Arc;

use bollard_stubs::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse, ContainerSummary,
    ContainerWaitResponse, ImageDeleteResponseItem, ImageInspect, ImageSummary, SystemInfo,
    SystemVersion,
};
use tokio::sync::oneshot;

use crate::api::{
    AttachOptions, AttachStream, ContainerListOptions, EngineConfig, ImageListOptions,
    ImportRequest, LogStream, LogsOptions, WaitCondition,
};
use crate::error::Result;

/// The container manager.
pub struct Engine {
    config: EngineConfig,
}

impl Engine {
    /// Opens (creating) the data and exec roots and re-adopts the containers a previous daemon
    /// left running. Must be called inside a tokio runtime.
    pub fn open(config: EngineConfig) -> Result<Arc<Engine>> {
        Ok(Arc::new(Engine { config }))
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// `GET /version`.
    pub fn version(&self) -> SystemVersion {
        todo!()
    }

    /// `GET /info`.
    pub fn info(&self) -> SystemInfo {
        todo!()
    }

    /// Imports a root filesystem tarball (plain, gzip or zstd) as a one-layer image; returns
    /// the image id (`sha256:...`). Blocking.
    pub fn import_image(&self, _src: &mut dyn Read, _req: ImportRequest) -> Result<String> {
        todo!()
    }

    pub fn list_images(&self, _opts: ImageListOptions) -> Result<Vec<ImageSummary>> {
        todo!()
    }

    pub fn inspect_image(&self, _name: &str) -> Result<ImageInspect> {
        todo!()
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub fn tag_image(&self, _name: &str, _repo: &str, _tag: Option<&str>) -> Result<()> {
        todo!()
    }

    pub fn remove_image(
        &self,
        _name: &str,
        _force: bool,
        _noprune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        todo!()
    }

    /// `POST /containers/create?name=`.
    pub fn create_container(
        &self,
        _name: Option<&str>,
        _body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        todo!()
    }

    /// Errors with `NotModified` when it is already running.
    pub async fn start_container(&self, _id: &str) -> Result<()> {
        todo!()
    }

    /// Attaching before start is allowed (`docker run`): the stream connects when it starts.
    pub async fn attach_container(&self, _id: &str, _opts: AttachOptions) -> Result<AttachStream> {
        todo!()
    }

    /// Registers the wait at once (so a start that follows cannot be missed); the receiver
    /// yields when the condition is met.
    pub fn wait_container(
        &self,
        _id: &str,
        _condition: WaitCondition,
    ) -> Result<oneshot::Receiver<ContainerWaitResponse>> {
        todo!()
    }

    pub fn container_logs(&self, _id: &str, _opts: LogsOptions) -> Result<LogStream> {
        todo!()
    }

    pub fn list_containers(&self, _opts: ContainerListOptions) -> Result<Vec<ContainerSummary>> {
        todo!()
    }

    pub fn inspect_container(&self, _id: &str) -> Result<ContainerInspectResponse> {
        todo!()
    }

    /// `signal` as Docker takes it: a name (`KILL`, `SIGTERM`) or a number; `None` is SIGKILL.
    /// Errors with `Conflict` when the container is not running.
    pub async fn kill_container(&self, _id: &str, _signal: Option<&str>) -> Result<()> {
        todo!()
    }

    /// The stop signal (the container's, or SIGTERM), then SIGKILL after `timeout` seconds
    /// (default 10; -1 waits forever). `NotModified` when it is not running.
    pub async fn stop_container(
        &self,
        _id: &str,
        _signal: Option<&str>,
        _timeout: Option<i64>,
    ) -> Result<()> {
        todo!()
    }

    pub async fn restart_container(
        &self,
        _id: &str,
        _signal: Option<&str>,
        _timeout: Option<i64>,
    ) -> Result<()> {
        todo!()
    }

    /// `Conflict` when it is running and `force` is false.
    pub async fn remove_container(&self, _id: &str, _force: bool, _volumes: bool) -> Result<()> {
        todo!()
    }

    pub fn resize_container_tty(&self, _id: &str, _height: u16, _width: u16) -> Result<()> {
        todo!()
    }
}
