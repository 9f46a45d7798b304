//! save / load / history / image prune / system df through the real docker CLI and the berth
//! CLI against the berth daemon: archives move images between daemons with the same ids,
//! prune removes dangling images with their blobs and snapshots but keeps what containers use.

mod daemon_support;

use std::path::Path;

use daemon_support::{Daemon, text};

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn blobs(d: &Daemon) -> usize {
    count(&d.data_root().join("content/blobs/sha256"))
}

fn snapshots(d: &Daemon) -> usize {
    count(&d.data_root().join("overlay/snapshots"))
}

fn image_id(d: &Daemon, name: &str) -> String {
    d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}

#[test]
fn docker_save_load_round_trip_into_a_fresh_daemon() {
    let src = Daemon::with_busybox();
    src.docker_ok(&["tag", "busybox", "localhost:5000/bb:two"]);
    let id = image_id(&src, "busybox");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bb.tar");
    src.docker_ok(&[
        "save",
        "-o",
        file.to_str().unwrap(),
        "busybox",
        "localhost:5000/bb:two",
    ]);

    let dst = Daemon::start();
    let out = dst.docker_ok(&["load", "-i", file.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert!(out.contains("Loaded image: localhost:5000/bb:two"), "{out}");
    assert_eq!(image_id(&dst, "busybox"), id);
    assert_eq!(image_id(&dst, "localhost:5000/bb:two"), id);
    assert_eq!(
        dst.docker_ok(&["run", "--rm", "localhost:5000/bb:two", "cat", "/etc/group"])
            .lines()
            .next(),
        Some("root:x:0:")
    );

    // Through stdout and stdin, by id: loaded unnamed.
    let saved = src.docker_cmd(&["save", &id]).output().unwrap();
    assert!(saved.status.success(), "{}", text(&saved.stderr));
    let fresh = Daemon::start();
    let out = fresh.docker_stdin(&["load"], &saved.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("Loaded image ID: {id}")),
        "{}",
        text(&out.stdout)
    );
    let quiet = fresh.docker_stdin(&["load", "-q"], &saved.stdout);
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert!(
        !text(&quiet.stdout).contains("Loading layer"),
        "{}",
        text(&quiet.stdout)
    );

    // One platform per image: asking for a particular one is refused, not ignored.
    let out = src.docker(&[
        "save",
        "--platform",
        "linux/arm64",
        "-o",
        tmp.path().join("p.tar").to_str().unwrap(),
        "busybox",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(r#"platform ({"architecture":"arm64","os":"linux"})"#),
        "{}",
        text(&out.stderr)
    );
    let out = dst.docker_stdin(&["load", "--platform", "linux/arm64"], &saved.stdout);
    assert!(
        text(&out.stderr).contains(r#"platform ({"architecture":"arm64","os":"linux"})"#),
        "{}",
        text(&out.stderr)
    );
    // An unknown name is a 404 before any byte.
    let out = src.docker(&[
        "save",
        "-o",
        tmp.path().join("x.tar").to_str().unwrap(),
        "nope:1",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("No such image: nope:1"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hostile_load_is_refused_naming_the_entry() {
    let d = Daemon::with_busybox();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..11].copy_from_slice(b"../../evil1");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let evil = b.into_inner().unwrap();
    let before = blobs(&d);
    let out = d.docker_stdin(&["load"], &evil);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("../../evil1"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(blobs(&d), before);
    let out = d.docker_stdin(
        &["load"],
        b"not a tar at all, just some bytes that are not 512 long",
    );
    assert!(!out.status.success());
    assert_eq!(d.docker_ok(&["images", "-q"]).lines().count(), 1);
}

#[test]
fn docker_history_lists_the_config_history() {
    let d = Daemon::start();
    let id = d.import_busybox("hist:1");
    let out = d.docker_ok(&["history", "hist:1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("IMAGE"), "{out}");
    let short = &id.trim_start_matches("sha256:")[..12];
    assert!(lines[1].starts_with(short), "{out}");
    assert!(lines[1].contains("berth import"), "{out}");
    assert!(lines[1].contains("MB"), "the layer is sized: {out}");
    let out = d.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.CreatedBy}}",
        "hist:1",
    ]);
    assert_eq!(out.trim(), format!("{id}|berth import"));
    let out = d.docker(&["history", "nope:1"]);
    assert!(
        text(&out.stderr).contains("No such image"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn docker_image_prune_removes_dangling_and_keeps_used() {
    let d = Daemon::with_busybox();
    // A second image with a different layer, made dangling by moving its tag.
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("r.tar");
    let st = std::process::Command::new("tar")
        .args(["-C", "/etc", "-cf", rootfs.to_str().unwrap(), "hostname"])
        .status()
        .unwrap();
    assert!(st.success());
    d.docker_ok(&["import", rootfs.to_str().unwrap(), "gone:1"]);
    let dangling = image_id(&d, "gone:1");
    d.docker_ok(&["tag", "busybox", "gone:1"]);
    // A third (busybox's layer, another config), dangling too, but a container uses it: kept.
    let bb = daemon_support::busybox_tar().to_str().unwrap();
    d.docker_ok(&["import", "--change", "ENV USED=1", bb, "used:1"]);
    let used = image_id(&d, "used:1");
    d.docker_ok(&["create", "--name", "keeper", "used:1", "true"]);
    d.docker_ok(&["rmi", "-f", "used:1"]);
    assert_eq!(
        image_id(&d, &used),
        used,
        "rmi -f of a stopped container's image only untags"
    );
    let (b0, s0) = (blobs(&d), snapshots(&d));

    let out = d.docker_ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    assert!(!out.contains(&used), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    // Its manifest, config and layer blob went, and its snapshot.
    assert_eq!(blobs(&d), b0 - 3);
    assert_eq!(snapshots(&d), s0 - 1);
    let ids = d.docker_ok(&["images", "-q", "--no-trunc"]);
    assert!(!ids.contains(&dangling) && ids.contains(&used), "{ids}");

    // Images made before a time long past: none.
    let out = d.docker_ok(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "until=2000-01-01T00:00:00Z",
    ]);
    assert_eq!(out.trim(), "Total reclaimed space: 0B");
    // -a: unused tagged images go too (busybox and gone:1 share one image), used stays.
    let out = d.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: busybox:latest"), "{out}");
    assert_eq!(d.docker_ok(&["images", "-q", "--no-trunc"]).trim(), used);
    assert_eq!(
        snapshots(&d),
        1,
        "only the container's image's layer is left"
    );
    d.docker_ok(&["start", "-a", "keeper"]);
    d.docker_ok(&["rm", "keeper"]);
    let out = d.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains(&format!("deleted: {used}")), "{out}");
    assert_eq!((blobs(&d), snapshots(&d)), (0, 0));
    let out = d.docker(&["image", "prune", "-f", "--filter", "reference=x"]);
    assert!(
        text(&out.stderr).contains("invalid filter 'reference'"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn docker_system_df_reports_images_and_containers() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "head -c 100000 /dev/zero > /big",
    ]);
    let out = d.docker_ok(&["system", "df"]);
    let images = out
        .lines()
        .find(|l| l.starts_with("Images"))
        .unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = images.split_whitespace().collect();
    assert_eq!(&cols[1..3], ["1", "1"], "{out}");
    assert!(cols[3].ends_with("MB"), "{out}");
    let containers = out.lines().find(|l| l.starts_with("Containers")).unwrap();
    assert!(containers.contains("100kB"), "{out}");
    let out = d.docker_ok(&["system", "df", "-v"]);
    assert!(out.contains("writer"), "{out}");
    assert!(out.contains("busybox"), "{out}");
}

#[test]
fn berth_cli_save_load_history_prune_df() {
    let src = Daemon::with_busybox();
    let id = image_id(&src, "busybox");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bb.tar");
    let out = src.berth(&["save", "-o", file.to_str().unwrap(), "busybox"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = src.berth(&["image", "save", "busybox"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        out.stdout == std::fs::read(&file).unwrap(),
        "the same archive both ways"
    );

    let dst = Daemon::start();
    let out = dst.berth(&["load", "-i", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Loaded image: busybox:latest\n");
    assert_eq!(image_id(&dst, "busybox"), id);
    let out = dst.berth_stdin(&["image", "load", "-q"], &std::fs::read(&file).unwrap());
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = dst.berth(&["history", "-q", "busybox"]);
    assert_eq!(
        text(&out.stdout).trim(),
        &id.trim_start_matches("sha256:")[..12]
    );
    let out = dst.berth(&["image", "history", "busybox"]);
    assert!(
        text(&out.stdout).starts_with("IMAGE          CREATED"),
        "{}",
        text(&out.stdout)
    );

    let out = dst.berth(&["system", "df"]);
    assert!(
        text(&out.stdout).starts_with("TYPE"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("Images          1         0"),
        "{}",
        text(&out.stdout)
    );
    let out = dst.berth(&["system", "df", "-v"]);
    let v = text(&out.stdout);
    assert!(v.starts_with("Images space usage:"), "{v}");
    assert!(
        v.contains("busybox") && v.contains("Containers space usage:"),
        "{v}"
    );
    let out = dst.berth(&["image", "prune", "-a", "-f"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("deleted: {id}")),
        "{}",
        text(&out.stdout)
    );
    assert_eq!((blobs(&dst), snapshots(&dst)), (0, 0));
}

#[test]
fn docker_py_save_load_history_prune_df() {
    let d = Daemon::with_busybox();
    let id = image_id(&d, "busybox");
    let out = d.python(
        r#"
img = client.images.get("busybox")
data = b"".join(img.save(named=True))
client.images.remove("busybox")
loaded = client.images.load(data)
print([i.tags for i in loaded])
h = client.images.get("busybox").history()
print(len(h), h[0]["Id"], h[0]["Tags"], h[0]["CreatedBy"])
df = client.df()
print(len(df["Images"]), df["LayersSize"] > 1000000, df["Volumes"], df["BuildCache"])
client.images.get("busybox").tag("py/other", "1")
client.images.remove("busybox")
p = client.images.prune(filters={"dangling": False})
print(p["ImagesDeleted"], p["SpaceReclaimed"] > 1000000)
"#,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines[0], "[['busybox:latest']]");
    assert_eq!(lines[1], format!("1 {id} ['busybox:latest'] berth import"));
    assert_eq!(lines[2], "1 True [] []");
    assert_eq!(
        lines[3],
        format!("[{{'Untagged': 'py/other:1'}}, {{'Deleted': '{id}'}}] True")
    );
}

/// A prune while a load is still streaming must not collect the blobs the load has already
/// stored but not yet tagged.
#[test]
fn prune_during_a_load_keeps_its_blobs() {
    use std::io::Write;
    let src = Daemon::with_busybox();
    let saved = src.docker_cmd(&["save", "busybox"]).output().unwrap();
    assert!(saved.status.success(), "{}", text(&saved.stderr));
    let archive = saved.stdout;
    let d = Daemon::start();
    let mut load = d
        .docker_cmd(&["load"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = load.stdin.take().unwrap();
    // Everything up to the documents that follow the blobs: the blobs reach the store first.
    let cut = tar::Archive::new(&archive[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().to_str() == Some("index.json"))
        .map(|e| e.raw_header_position() as usize)
        .unwrap();
    stdin.write_all(&archive[..cut]).unwrap();
    stdin.flush().unwrap();
    d.eventually(20, "the load stored its blobs", || blobs(&d) >= 3);
    let out = d.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
    assert!(blobs(&d) >= 3, "the load's blobs survived the prune");
    stdin.write_all(&archive[cut..]).unwrap();
    drop(stdin);
    let out = load.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "echo", "ok"]),
        "ok\n"
    );
}
