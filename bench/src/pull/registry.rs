//! Debian's `docker-registry` on a free 127.0.0.1 port with its storage in the bench's scratch
//! dir, and the push of the test image into it with skopeo. The process is killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::stats::check;

pub struct Registry {
    child: Child,
    port: u16,
}

impl Registry {
    /// Starts the registry (retrying when the free port it picked is taken meanwhile).
    pub fn start(binary: &Path, dir: &Path) -> Result<Registry> {
        if !binary.exists() {
            bail!(
                "{} not found: the pull bench serves its image from Debian's registry (apt-get install docker-registry)",
                binary.display()
            );
        }
        for attempt in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let root = dir.join(format!("registry-{attempt}"));
            std::fs::create_dir_all(&root)?;
            let config = root.join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                    root.join("data").display()
                ),
            )?;
            let child = Command::new(binary)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(root.join("registry.log"))?)
                .spawn()
                .context("start docker-registry")?;
            let mut registry = Registry { child, port };
            if registry.wait_listening()? {
                return Ok(registry);
            }
        }
        bail!("docker-registry did not start on a free 127.0.0.1 port (10 attempts)")
    }

    /// True once the port answers; false if the registry exited (port taken meanwhile).
    fn wait_listening(&mut self) -> Result<bool> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(false);
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "docker-registry did not listen on 127.0.0.1:{} within 15 s",
            self.port
        )
    }

    /// `127.0.0.1:PORT/<name>`.
    pub fn reference(&self, name: &str) -> String {
        format!("127.0.0.1:{}/{name}", self.port)
    }

    /// Pushes the OCI layout's `tag` as `name` with skopeo.
    pub fn push(&self, skopeo: &Path, layout: &Path, tag: &str, name: &str) -> Result<()> {
        check(
            Command::new(skopeo)
                .args([
                    "--insecure-policy",
                    "copy",
                    "--quiet",
                    "--dest-tls-verify=false",
                ])
                .arg(format!("oci:{}:{tag}", layout.display()))
                .arg(format!("docker://{}", self.reference(name))),
        )
        .context("push the test image with skopeo")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
