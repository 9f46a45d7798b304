//! An image of 200 layers (Docker stops at 125) runs: more lower directories than one
//! `mount(2)` option string can name, mounted through the new mount API one `lowerdir+` each.

mod daemon_support;

use daemon_support::{Daemon, busybox_tar, text};
use sha2::Digest as _;

const LAYERS: usize = 200;

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

fn layer(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

/// Docker's archive format: busybox at the bottom, then one file per layer.
fn archive() -> Vec<u8> {
    let mut layers = vec![std::fs::read(busybox_tar()).unwrap()];
    layers.push(layer("l0", b"bottom\n"));
    for i in 2..LAYERS - 1 {
        layers.push(layer(&format!("l{i}"), format!("layer {i}\n").as_bytes()));
    }
    layers.push(layer("top", b"top\n"));
    assert_eq!(layers.len(), LAYERS);
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let config_name = format!("{}.json", &sha(&config)[7..]);
    let layer_names: Vec<String> = (0..LAYERS).map(|i| format!("{i}/layer.tar")).collect();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name, "RepoTags": ["tall:200"], "Layers": layer_names,
    }]))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    for (name, l) in layer_names.iter().zip(&layers) {
        add(name, l);
    }
    add(&config_name, &config);
    add("manifest.json", &manifest);
    b.into_inner().unwrap()
}

#[test]
fn image_with_200_layers_runs() {
    let d = Daemon::start();
    let out = d.docker_stdin(&["load"], &archive());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Loaded image: tall:200"),
        "{}",
        text(&out.stdout)
    );
    let n = d.docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}}",
        "tall:200",
    ]);
    assert_eq!(n.trim(), LAYERS.to_string());
    let out = d.docker_ok(&[
        "run", "--rm", "tall:200", "cat", "/l0", "/l2", "/l150", "/top",
    ]);
    assert_eq!(out, "bottom\nlayer 2\nlayer 150\ntop\n");
    // Writes land in the container's own layer, as with few layers.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "tall:200",
        "sh",
        "-c",
        "echo new > /l0 && cat /l0",
    ]);
    assert_eq!(out, "new\n");
}
