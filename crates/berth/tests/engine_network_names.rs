//! What a container is called on its networks: `DNSNames` in inspect (docker CLI and the raw
//! API) and the embedded resolver answering exactly those names (bare or with the network's
//! name); its /etc/hosts following
//! `network connect`/`disconnect` while it runs, in place, with `--add-host` lines kept.
//! Traffic stays inside namespaces the tests made.

mod daemon_support;
mod network_support;

use daemon_support::{Daemon, text};
use network_support::{NO_UPSTREAM, inspect, random_subnet};

/// `NetworkSettings.Networks` of a container through the raw API.
fn api_networks(d: &Daemon, name: &str) -> serde_json::Value {
    api_networks_at(d, "1.47", name)
}

/// `NetworkSettings.Networks` of a container as API `version` shows it.
fn api_networks_at(d: &Daemon, version: &str, name: &str) -> serde_json::Value {
    let (code, body) = d.http("GET", &format!("/v{version}/containers/{name}/json"), None);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["NetworkSettings"]["Networks"].clone()
}

#[test]
fn dns_names_are_shown_on_user_networks_and_resolve() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["network", "create", "nn-net"]);
    let id = d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "nn-srv",
        "--network",
        "nn-net",
        "--network-alias",
        "nn-alias",
        "--hostname",
        "nn-host",
        "busybox",
        "sleep",
        "60",
    ]);
    let short = &id.trim()[..12];
    let want = format!(r#"["nn-srv","nn-alias","{short}","nn-host"]"#);
    assert_eq!(
        inspect(
            &d,
            "nn-srv",
            "{{json (index .NetworkSettings.Networks \"nn-net\").DNSNames}}"
        ),
        want
    );
    assert_eq!(
        api_networks(&d, "nn-srv")["nn-net"]["DNSNames"].to_string(),
        want
    );
    // Before API 1.45 (and DNSNames) the short id and hostname were among the aliases; no
    // longer since.
    let old = api_networks_at(&d, "1.44", "nn-srv");
    assert_eq!(
        old["nn-net"]["Aliases"].to_string(),
        format!(r#"["nn-alias","{short}","nn-host"]"#)
    );
    let new = api_networks_at(&d, "1.45", "nn-srv");
    assert_eq!(new["nn-net"]["Aliases"].to_string(), r#"["nn-alias"]"#);
    // Docker fills them when it wires the container: none before its first start.
    d.docker_ok(&[
        "create",
        "--name",
        "nn-new",
        "--network",
        "nn-net",
        "busybox",
        "true",
    ]);
    assert_eq!(
        inspect(
            &d,
            "nn-new",
            "{{json (index .NetworkSettings.Networks \"nn-net\").DNSNames}}"
        ),
        "null"
    );
    // Every one of them resolves, through the embedded resolver, to the container; and so
    // does each qualified with the network's name (the FQDN), in any case.
    let ip = inspect(
        &d,
        "nn-srv",
        "{{(index .NetworkSettings.Networks \"nn-net\").IPAddress}}",
    );
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "nn-net",
        "--dns",
        NO_UPSTREAM,
        "busybox",
        "sh",
        "-c",
        &format!(
            "for n in nn-srv nn-alias {short} nn-host nn-srv.nn-net NN-ALIAS.NN-NET; do \
             nslookup $n; done"
        ),
    ]);
    assert_eq!(out.matches(&format!("Address: {ip}")).count(), 6, "{out}");
    // On the default bridge there are none (Docker has no names there), and the default
    // hostname (the short id) is listed once.
    let other = d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "nn-def",
        "--dns",
        NO_UPSTREAM,
        "busybox",
        "sleep",
        "60",
    ]);
    let other_short = &other.trim()[..12];
    assert_eq!(
        inspect(
            &d,
            "nn-def",
            "{{json .NetworkSettings.Networks.bridge.DNSNames}}"
        ),
        "null"
    );
    assert!(
        api_networks(&d, "nn-def")["bridge"]
            .get("DNSNames")
            .is_none()
    );
    let bridge = &api_networks_at(&d, "1.44", "nn-def")["bridge"];
    assert!(
        bridge["Aliases"].as_array().is_none_or(|a| a.is_empty()),
        "{bridge}"
    );
    d.docker_ok(&["network", "connect", "--alias", "nn-a2", "nn-net", "nn-def"]);
    let nets = api_networks(&d, "nn-def");
    assert_eq!(
        nets["nn-net"]["DNSNames"].to_string(),
        format!(r#"["nn-def","nn-a2","{other_short}"]"#)
    );
    assert!(nets["bridge"].get("DNSNames").is_none(), "{nets}");
    // Started without the embedded resolver, it gets one on joining a user network, and
    // its resolv.conf (the bind-mounted file, rewritten in place) points at it.
    let resolv = d.docker_ok(&["exec", "nn-def", "cat", "/etc/resolv.conf"]);
    assert!(resolv.starts_with("nameserver 127.0.0.11\n"), "{resolv}");
    // They stay once it stops, as in Docker (the addresses do not).
    d.docker_ok(&["stop", "-t", "0", "nn-def"]);
    let stopped = api_networks(&d, "nn-def");
    assert_eq!(
        stopped["nn-net"]["DNSNames"].to_string(),
        format!(r#"["nn-def","nn-a2","{other_short}"]"#)
    );
    assert_eq!(stopped["nn-net"]["IPAddress"], "", "{stopped}");
    d.docker_ok(&["start", "nn-def"]);
    // A rename shows, and resolves, under the new name.
    d.docker_ok(&["rename", "nn-srv", "nn-srv2"]);
    assert_eq!(
        inspect(
            &d,
            "nn-srv2",
            "{{index (index .NetworkSettings.Networks \"nn-net\").DNSNames 0}}"
        ),
        "nn-srv2"
    );
    let out = d.docker_ok(&[
        "exec",
        "nn-def",
        "sh",
        "-c",
        "nslookup nn-srv2; nslookup nn-srv || true",
    ]);
    assert_eq!(out.matches(&format!("Address: {ip}")).count(), 1, "{out}");
    // Having left its last user network it keeps its resolver, as in Docker, and a daemon
    // restart serves it again: its resolv.conf still points there.
    d.docker_ok(&["network", "disconnect", "nn-net", "nn-def"]);
    let mut d = d;
    d.kill9();
    d.launch();
    let resolv = d.docker_ok(&["exec", "nn-def", "cat", "/etc/resolv.conf"]);
    assert!(resolv.starts_with("nameserver 127.0.0.11\n"), "{resolv}");
    // 127.0.0.11:53 in /proc/net/udp's hex.
    let udp = d.docker_ok(&["exec", "nn-def", "cat", "/proc/net/udp"]);
    assert!(udp.contains(" 0B00007F:0035 "), "{udp}");
}

#[test]
fn hosts_file_follows_connect_and_disconnect_in_place() {
    // How Docker names a container's own addresses: with its domain, then without.
    const NAMES: &str = "nh-host.nh.example nh-host";
    let d = Daemon::with_busybox();
    let (subnet, prefix) = random_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "nh-net"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "nh-c",
        "--hostname",
        "nh-host",
        "--domainname",
        "nh.example",
        "--add-host",
        "nh-extra:10.1.2.3",
        "--add-host",
        "nh-gw:host-gateway",
        "busybox",
        "sleep",
        "60",
    ]);
    let bridge_ip = inspect(&d, "nh-c", "{{.NetworkSettings.IPAddress}}");
    let gateway = inspect(&d, "nh-c", "{{.NetworkSettings.Gateway}}");
    let hosts = || d.docker_ok(&["exec", "nh-c", "cat", "/etc/hosts"]);
    let inode = || d.docker_ok(&["exec", "nh-c", "stat", "-c", "%i", "/etc/hosts"]);
    let kept = [
        format!("{bridge_ip}\t{NAMES}\n"),
        "10.1.2.3\tnh-extra\n".to_string(),
        format!("{gateway}\tnh-gw\n"),
    ];
    let before = hosts();
    for line in &kept {
        assert!(before.contains(line.as_str()), "{line:?} in {before}");
    }
    let first_inode = inode();
    // A line written inside the container stays through it all (the file is edited, not
    // regenerated).
    d.docker_ok(&[
        "exec",
        "nh-c",
        "sh",
        "-c",
        "echo '10.4.4.4 nh-mine' >> /etc/hosts",
    ]);
    let new_ip = format!("{prefix}.77");
    let new_line = format!("{new_ip}\t{NAMES}\n");
    d.docker_ok(&["network", "connect", "--ip", &new_ip, "nh-net", "nh-c"]);
    let connected = hosts();
    assert!(connected.contains(&new_line), "{connected}");
    for line in kept.iter().chain([&"10.4.4.4 nh-mine\n".to_string()]) {
        assert!(connected.contains(line.as_str()), "{line:?} in {connected}");
    }
    assert_eq!(inode(), first_inode);
    // The host's file is the one inspect names, the same inode.
    let path = inspect(&d, "nh-c", "{{.HostsPath}}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), connected);
    d.docker_ok(&["network", "disconnect", "nh-net", "nh-c"]);
    let disconnected = hosts();
    assert!(!disconnected.contains(&new_ip), "{disconnected}");
    assert_eq!(disconnected, format!("{before}10.4.4.4 nh-mine\n"));
    assert_eq!(inode(), first_inode);
    // A stopped container's file is untouched by connect; its next start writes it whole.
    d.docker_ok(&["stop", "-t", "0", "nh-c"]);
    d.docker_ok(&["network", "connect", "--ip", &new_ip, "nh-net", "nh-c"]);
    assert!(!text(&std::fs::read(&path).unwrap()).contains(&new_ip));
    d.docker_ok(&["start", "nh-c"]);
    let restarted = hosts();
    assert!(restarted.contains(&new_line), "{restarted}");
    assert!(restarted.contains("10.1.2.3\tnh-extra\n"), "{restarted}");
}
