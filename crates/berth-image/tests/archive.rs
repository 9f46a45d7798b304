//! Image archives: save → load round trips, Docker's legacy format, skopeo's archives both
//! ways, and hostile archives refused with errors naming the entry, leaving nothing tagged.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use berth_image::archive::{load, plan_save, save};
use berth_image::{Digest, ImageStore, ImportOptions, Reference, Snapshots, import_rootfs};
use tempfile::TempDir;

struct Root {
    _tmp: TempDir,
    store: ImageStore,
    snaps: Snapshots,
}

fn root() -> Root {
    let tmp = tempfile::tempdir().unwrap();
    Root {
        store: ImageStore::open(tmp.path()).unwrap(),
        snaps: Snapshots::open(tmp.path().join("overlay")).unwrap(),
        _tmp: tmp,
    }
}

fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn import(r: &Root, name: &str, files: &[(&str, &[u8])]) -> berth_image::Image {
    let opts = ImportOptions {
        reference: Some(Reference::parse(name).unwrap()),
        ..Default::default()
    };
    import_rootfs(&r.store, &r.snaps, &layer_tar(files)[..], opts).unwrap()
}

fn save_to_vec(r: &Root, names: &[&str]) -> Vec<u8> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let items = plan_save(&r.store, &names).unwrap();
    let mut out = Vec::new();
    save(&r.store, &items, &mut out).unwrap();
    out
}

fn entries(archive: &[u8]) -> Vec<String> {
    tar::Archive::new(archive)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn blobs(r: &Root) -> usize {
    count(&r.store.content().dir().join("blobs/sha256"))
}

#[test]
fn save_load_round_trip_keeps_ids_and_tags() {
    let src = root();
    let a = import(&src, "app:1", &[("hello", b"one")]);
    src.store
        .tag(&Reference::parse("app:2").unwrap(), &a.manifest)
        .unwrap();
    let b = import(&src, "other:latest", &[("x", b"two")]);
    let archive = save_to_vec(&src, &["app:1", "app:2", &b.id.to_string()]);
    let names = entries(&archive);
    for want in ["oci-layout", "index.json", "manifest.json", "repositories"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    // Every blob once: two manifests, two configs, two layers.
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("blobs/sha256/") && !n.ends_with('/'))
            .count(),
        6
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&file(&archive, "manifest.json")).unwrap();
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["app:1", "app:2"])
    );
    assert_eq!(
        manifest[0]["Config"],
        format!("blobs/sha256/{}", a.id.hex())
    );
    assert_eq!(manifest[1]["RepoTags"], serde_json::json!([]));

    let dst = root();
    let mut steps = Vec::new();
    let loaded = load(&dst.store, &dst.snaps, &archive[..], &mut |d, t| {
        steps.push((d, t))
    })
    .unwrap();
    assert_eq!(steps.last(), Some(&(2, 2)));
    assert_eq!(loaded.len(), 2);
    assert_eq!((&loaded[0].id, &loaded[0].manifest), (&a.id, &a.manifest));
    let got = dst.store.resolve("app:2").unwrap();
    assert_eq!(got.id, a.id);
    assert_eq!(got.references.len(), 2);
    // Saved by id: loaded unnamed, same id.
    assert!(loaded[1].names.is_empty());
    assert!(
        dst.store
            .resolve(&b.id.to_string())
            .unwrap()
            .references
            .is_empty()
    );
    let chain = got.chain_ids().unwrap();
    assert_eq!(
        std::fs::read(dst.snaps.fs_path(&chain[0]).join("hello")).unwrap(),
        b"one"
    );
}

fn file(archive: &[u8], name: &str) -> Vec<u8> {
    let mut a = tar::Archive::new(archive);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == name {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            return v;
        }
    }
    panic!("{name} not in archive")
}

/// A tar built entry by entry, names taken verbatim (hostile ones included).
struct Raw(tar::Builder<Vec<u8>>);

impl Raw {
    fn new() -> Raw {
        Raw(tar::Builder::new(Vec::new()))
    }
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Raw {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Raw {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_cksum();
        self.0.append(&h, &b""[..]).unwrap();
        self
    }
    fn finish(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}

fn config(diff_ids: &[Digest]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
        "history": [{"created_by": "one"}, {"created_by": "two"}]
    }))
    .unwrap()
}

/// Docker's legacy archive: `<id>/layer.tar` (one gzip, one plain, one a symlink to another),
/// `<id>.json` config.
#[test]
fn legacy_docker_archive() {
    let l1 = layer_tar(&[("bottom", b"b")]);
    let l2 = layer_tar(&[("top", b"t")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&l1).unwrap();
    let l1gz = gz.finish().unwrap();
    let cfg = config(&[Digest::of(&l1), Digest::of(&l2), Digest::of(&l1)]);
    let id = Digest::of(&cfg);
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", id.hex()),
        "RepoTags": ["legacy/app:v1", "localhost:5000/x:y"],
        "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"],
    }]);
    let archive = Raw::new()
        .file("aaa/VERSION", b"1.0")
        .file("aaa/json", b"{}")
        .file("aaa/layer.tar", &l1gz)
        .file("bbb/layer.tar", &l2)
        .symlink("ccc/layer.tar", "../aaa/layer.tar")
        .file(&format!("{}.json", id.hex()), &cfg)
        .file("manifest.json", &serde_json::to_vec(&manifest).unwrap())
        .file("repositories", b"{}")
        .finish();
    let r = root();
    let loaded = load(&r.store, &r.snaps, &archive[..], &mut |_, _| {}).unwrap();
    assert_eq!(loaded[0].id, id);
    let names: Vec<String> = loaded[0].names.iter().map(|n| n.familiar()).collect();
    assert_eq!(names, ["legacy/app:v1", "localhost:5000/x:y"]);
    let img = r.store.resolve("legacy/app:v1").unwrap();
    assert_eq!(img.layers.len(), 3);
    assert!(img.layers[0].media_type().to_string().ends_with("+gzip"));
    assert!(!img.layers[1].media_type().to_string().ends_with("+gzip"));
    let top = img.chain_ids().unwrap()[2].clone();
    assert!(r.snaps.is_committed(&top));
    // Manifest, config, two layer blobs; VERSION and json were not kept.
    assert_eq!(blobs(&r), 4);
}

fn assert_refused(archive: &[u8], entry: &str, why: &str) {
    let r = root();
    let before = import(&r, "keep:1", &[("k", b"k")]);
    let err = load(&r.store, &r.snaps, archive, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains(entry) && err.contains(why), "{err}");
    // Nothing tagged, nothing added.
    let images = r.store.list().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].id, before.id);
    assert_eq!(blobs(&r), 3, "only the existing image's blobs remain");
    assert_eq!(r.snaps.list().unwrap().len(), 1);
}

#[test]
fn hostile_archives_refused() {
    let l = layer_tar(&[("f", b"x")]);
    let cfg = config(&[Digest::of(&l)]);
    let id = Digest::of(&cfg);
    let manifest = |layers: &[&str]| {
        serde_json::to_vec(&serde_json::json!([{
            "Config": format!("{}.json", id.hex()), "RepoTags": ["evil:1"], "Layers": layers,
        }]))
        .unwrap()
    };
    let good = manifest(&["l/layer.tar"]);
    let cfg_name = format!("{}.json", id.hex());

    assert_refused(
        &Raw::new().file("../escape", b"x").finish(),
        "../escape",
        "escapes",
    );
    assert_refused(
        &Raw::new().file("/etc/x", b"x").finish(),
        "/etc/x",
        "absolute",
    );
    assert_refused(
        &Raw::new()
            .symlink("l/layer.tar", "../../etc/passwd")
            .finish(),
        "l/layer.tar",
        "escapes",
    );
    let wrong = Digest::of(b"other");
    let blob = format!("blobs/sha256/{}", wrong.hex());
    assert_refused(
        &Raw::new().file(&blob, b"content").finish(),
        &blob,
        "digest",
    );
    assert_refused(
        &Raw::new().file("manifest.json", b"{not json").finish(),
        "manifest.json",
        "invalid JSON",
    );
    // A layer the manifest names is absent; the config's blob was written and is removed.
    assert_refused(
        &Raw::new()
            .file(&cfg_name, &cfg)
            .file("manifest.json", &good)
            .finish(),
        "l/layer.tar",
        "missing",
    );
    // A layer whose content is not the config's diff id.
    let other = layer_tar(&[("f", b"y")]);
    assert_refused(
        &Raw::new()
            .file("l/layer.tar", &other)
            .file(&cfg_name, &cfg)
            .file("manifest.json", &good)
            .finish(),
        "blobs/sha256/",
        "diff id",
    );
    // Two images, the second's layer is not its diff id: the first one's snapshot, unpacked
    // already, is removed again and neither is tagged.
    let cfg_bad = config(&[Digest::of(&l), Digest::of(b"not this")]);
    let bad_name = format!("{}.json", Digest::of(&cfg_bad).hex());
    let two = serde_json::to_vec(&serde_json::json!([
        {"Config": cfg_name, "RepoTags": ["first:1"], "Layers": ["l/layer.tar"]},
        {"Config": bad_name, "RepoTags": ["second:1"], "Layers": ["l/layer.tar", "m/layer.tar"]},
    ]))
    .unwrap();
    assert_refused(
        &Raw::new()
            .file("l/layer.tar", &l)
            .file("m/layer.tar", &other)
            .file(&cfg_name, &cfg)
            .file(&bad_name, &cfg_bad)
            .file("manifest.json", &two)
            .finish(),
        "blobs/sha256/",
        "diff id",
    );
    // A layer that escapes its root while unpacking.
    let evil = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..5].copy_from_slice(b"../up");
        h.set_size(1);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let cfg2 = config(&[Digest::of(&evil)]);
    let id2 = Digest::of(&cfg2);
    assert_refused(
        &Raw::new()
            .file("l/layer.tar", &evil)
            .file(&format!("{}.json", id2.hex()), &cfg2)
            .file(
                "manifest.json",
                &serde_json::to_vec(&serde_json::json!([{
                    "Config": format!("{}.json", id2.hex()), "RepoTags": ["evil:1"], "Layers": ["l/layer.tar"],
                }]))
                .unwrap(),
            )
            .finish(),
        "../up",
        "escapes",
    );
    // An OCI layout whose index names a manifest that is not there.
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{wrong}","size":3}}]}}"#
    );
    assert_refused(
        &Raw::new().file("index.json", index.as_bytes()).finish(),
        &wrong.hex()[..12],
        "missing",
    );
    // A truncated stream.
    let mut cut = Raw::new()
        .file("l/layer.tar", &l)
        .file(&cfg_name, &cfg)
        .finish();
    cut.truncate(700);
    assert_refused(&cut, "", "");
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo installed");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// berth's archive read by skopeo as docker-archive and as an OCI layout; skopeo's
/// docker-archive, oci-archive and OCI directory outputs loaded by berth with the same id.
#[test]
fn skopeo_interchange() {
    let src = root();
    let img = import(&src, "inter/app:v1", &[("hello", b"skopeo")]);
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("saved.tar");
    std::fs::write(&saved, save_to_vec(&src, &["inter/app:v1"])).unwrap();
    let inspect = skopeo(&["inspect", &format!("docker-archive:{}", saved.display())]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 1, "{inspect}");
    // As Docker's save, the OCI ref.name annotation is the tag.
    let cfg = skopeo(&[
        "inspect",
        "--config",
        &format!("oci-archive:{}:v1", saved.display()),
    ]);
    assert!(
        cfg.contains(&img.diff_ids().unwrap()[0].to_string()),
        "{cfg}"
    );

    let outputs = [
        ("docker-archive", tmp.path().join("d.tar"), ":inter/app:v2"),
        ("oci-archive", tmp.path().join("o.tar"), ":inter/app:v2"),
        ("oci", tmp.path().join("dir"), ":inter/app:v2"),
    ];
    for (transport, path, suffix) in &outputs {
        skopeo(&[
            "copy",
            "-q",
            &format!("docker-archive:{}", saved.display()),
            &format!("{transport}:{}{suffix}", path.display()),
        ]);
        let tarred = if path.is_dir() {
            let t = tmp.path().join("dir.tar");
            let st = Command::new("tar")
                .args([
                    "-C",
                    path.to_str().unwrap(),
                    "-cf",
                    t.to_str().unwrap(),
                    ".",
                ])
                .status()
                .unwrap();
            assert!(st.success());
            t
        } else {
            path.clone()
        };
        let dst = root();
        let f = std::fs::File::open(&tarred).unwrap();
        let loaded = load(&dst.store, &dst.snaps, f, &mut |_, _| {}).unwrap();
        assert_eq!(loaded.len(), 1, "{transport}");
        assert_eq!(loaded[0].id, img.id, "{transport}: same image id");
        let got = dst
            .store
            .resolve("inter/app:v2")
            .unwrap_or_else(|e| panic!("{transport}: {e}"));
        let chain = got.chain_ids().unwrap();
        assert_eq!(
            std::fs::read(dst.snaps.fs_path(&chain[0]).join("hello")).unwrap(),
            b"skopeo"
        );
    }
}
