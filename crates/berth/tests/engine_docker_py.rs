//! The engine driven by docker-py (PyPI `docker`), the other common client of the API.

mod daemon_support;

use daemon_support::{Daemon, text};

fn py_ok(d: &Daemon, script: &str) -> String {
    let out = d.python(script);
    assert!(
        out.status.success(),
        "python failed: {}\n{}\ndaemon log:\n{}",
        text(&out.stderr),
        text(&out.stdout),
        d.log()
    );
    text(&out.stdout)
}

#[test]
fn run_and_collect_output() {
    let d = Daemon::with_busybox();
    let out = py_ok(
        &d,
        r#"
print(client.ping())
print(client.version()["ApiVersion"])
out = client.containers.run("busybox", ["sh", "-c", "echo hi; echo err >&2"], remove=True, stderr=True)
print(repr(out))
try:
    client.containers.run("busybox", ["sh", "-c", "exit 4"], remove=True)
except docker.errors.ContainerError as e:
    print("exit", e.exit_status)
print(len(client.containers.list(all=True)))
"#,
    );
    assert_eq!(out, "True\n1.50\nb'hi\\nerr\\n'\nexit 4\n0\n");
}

#[test]
fn detached_lifecycle() {
    let d = Daemon::with_busybox();
    let out = py_ok(
        &d,
        r#"
import time
c = client.containers.run("busybox", ["sh", "-c", "echo ready; sleep 1000"], detach=True, name="py1", labels={"app": "t"})
for _ in range(200):
    if b"ready" in c.logs():
        break
    time.sleep(0.02)
c.reload()
print(c.name, c.status, c.labels["app"], c.attrs["Config"]["Image"])
print([x.name for x in client.containers.list(filters={"label": "app=t"})])
c.stop(timeout=1)
print(c.wait()["StatusCode"])
c.reload()
print(c.status)
print(c.logs())
c.remove()
try:
    client.containers.get("py1")
except docker.errors.NotFound as e:
    print("gone")
"#,
    );
    assert_eq!(
        out,
        "py1 running t busybox\n['py1']\n137\nexited\nb'ready\\n'\ngone\n"
    );
}

#[test]
fn images_and_errors() {
    let d = Daemon::with_busybox();
    let out = py_ok(
        &d,
        r#"
img = client.images.get("busybox")
print(img.tags, img.id.startswith("sha256:"))
img.tag("copy", "v2")
print(sorted(client.images.get("copy:v2").tags))
client.images.remove("copy:v2")
try:
    client.images.get("nothing-here")
except docker.errors.ImageNotFound:
    print("no image")
try:
    client.containers.create("busybox", "true", name="dup")
    client.containers.create("busybox", "true", name="dup")
except docker.errors.APIError as e:
    print(e.status_code)
"#,
    );
    assert_eq!(
        out,
        "['busybox:latest'] True\n['busybox:latest', 'copy:v2']\nno image\n409\n"
    );
}
