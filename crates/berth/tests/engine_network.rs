//! Networking end to end: real daemons (each with its own bridge and nft table), busybox
//! containers pinging and fetching from each other by the addresses berth gave them, the
//! docker CLI's and docker-py's network commands. Traffic stays between namespaces the
//! tests made (and the host's side of their bridges); outbound NAT is checked by the rules.

mod daemon_support;
mod network_support;

use std::process::Command;

use daemon_support::{Daemon, text};
use network_support::{inspect, links, nft_table, random_subnet};

#[test]
fn default_bridge_containers_reach_each_other_by_ip() {
    let d = Daemon::with_busybox();
    let id = d.docker_ok(&["run", "-d", "--name", "nb-one", "busybox", "sleep", "60"]);
    let id = id.trim();
    let ip = inspect(&d, "nb-one", "{{.NetworkSettings.IPAddress}}");
    let gw = inspect(&d, "nb-one", "{{.NetworkSettings.Gateway}}");
    let mac = inspect(&d, "nb-one", "{{.NetworkSettings.MacAddress}}");
    let net_ip = inspect(
        &d,
        "nb-one",
        "{{.NetworkSettings.Networks.bridge.IPAddress}}",
    );
    assert_eq!(ip, net_ip);
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip:?}");
    let o: Vec<u8> = ip.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(
        mac,
        format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
    );
    // Another container pings it; it resolves its own name to its address.
    let out = d.docker_ok(&["run", "--rm", "busybox", "ping", "-c1", "-W2", &ip]);
    assert!(out.contains("1 packets received"), "{out}");
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip route; cat /etc/hosts; hostname",
    ]);
    assert!(out.contains(&format!("default via {gw} dev eth0")), "{out}");
    let own_ip = out
        .lines()
        .find(|l| l.contains("eth0") && l.contains("src"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .to_string();
    let hostname = out.lines().last().unwrap();
    assert!(out.contains(&format!("{own_ip}\t{hostname}")), "{out}");
    // The host side of the bridge reaches the container too (the test's own namespace pair).
    let ping = Command::new("busybox")
        .args(["ping", "-c1", "-W2", &ip])
        .output()
        .unwrap();
    assert!(ping.status.success(), "{ping:?}");
    // Outbound NAT: a masquerade rule for the bridge subnet in the daemon's own table.
    let table = nft_table(&d.bridge_name()).expect("the daemon's nft table");
    let prefix = format!("{}.{}.", o[0], o[1]);
    assert!(
        table.lines().any(|l| l.contains("masquerade")
            && l.contains(&format!("ip saddr {prefix}"))
            && l.contains(&format!("oifname != \"{}\"", d.bridge_name()))),
        "{table}"
    );
    // Removal takes the veth with it and gives the address back.
    let veth = format!("vb{}0", &id[..10]);
    assert!(links().contains(&veth));
    d.docker_ok(&["rm", "-f", "nb-one"]);
    // The kernel tears the namespace, and the veth with it, down in the background.
    d.eventually(10, "the veth gone", || !links().contains(&veth));
}

#[test]
fn host_none_and_container_modes() {
    let d = Daemon::with_busybox();
    let none = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(none.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    // The host's own network namespace (compared by inode: the host's link list changes while
    // parallel tests make and remove bridges).
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let seen = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(seen.trim(), host_ns.to_string_lossy());
    d.docker_ok(&["run", "-d", "--name", "nm-base", "busybox", "sleep", "60"]);
    let ip = inspect(&d, "nm-base", "{{.NetworkSettings.IPAddress}}");
    let joined = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "container:nm-base",
        "busybox",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(joined.contains(&format!("{ip}/")), "{joined}");
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:nm-missing",
        "busybox",
        "true",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("nm-missing"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn user_networks_isolate_and_internal_has_no_way_out() {
    let d = Daemon::with_busybox();
    let (subnet, prefix) = random_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "nu-one"]);
    d.docker_ok(&["network", "create", "nu-two"]);
    d.docker_ok(&["network", "create", "--internal", "nu-int"]);
    let fixed = format!("{prefix}.50");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "nu-a",
        "--network",
        "nu-one",
        "--ip",
        &fixed,
        "busybox",
        "sleep",
        "60",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "nu-b",
        "--network",
        "nu-two",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(
        inspect(
            &d,
            "nu-a",
            "{{(index .NetworkSettings.Networks \"nu-one\").IPAddress}}"
        ),
        fixed
    );
    let b_ip = inspect(
        &d,
        "nu-b",
        "{{(index .NetworkSettings.Networks \"nu-two\").IPAddress}}",
    );
    // Same network: reachable; the other network: not.
    let same = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "nu-one",
        "busybox",
        "ping",
        "-c1",
        "-W2",
        &fixed,
    ]);
    assert!(same.contains("1 packets received"), "{same}");
    let across = d.docker(&[
        "run",
        "--rm",
        "--network",
        "nu-one",
        "busybox",
        "ping",
        "-c1",
        "-W1",
        &b_ip,
    ]);
    assert!(!across.status.success(), "{}", text(&across.stdout));
    // The rules say so: a drop between the two bridges.
    let table = nft_table(&d.bridge_name()).unwrap();
    assert!(
        table.contains("oifname") && table.contains("drop"),
        "{table}"
    );
    // Internal: no default route, no masquerade for its subnet.
    let routes = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "nu-int",
        "busybox",
        "ip",
        "route",
    ]);
    assert!(!routes.contains("default"), "{routes}");
    let int_subnet = inspect(&d, "nu-int", "{{(index .IPAM.Config 0).Subnet}}");
    let table = nft_table(&d.bridge_name()).unwrap();
    assert!(
        !table.contains(&format!("ip saddr {int_subnet} ")),
        "{table}"
    );
    // ls, inspect and its containers.
    let ls = d.docker_ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for n in [
        "bridge bridge",
        "host host",
        "none null",
        "nu-one bridge",
        "nu-int bridge",
    ] {
        assert!(ls.lines().any(|l| l == n), "{ls}");
    }
    let members = d.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
        "nu-one",
    ]);
    assert_eq!(members.trim(), format!("nu-a {fixed}/24"));
    // Removing a network in use: 409; once free it goes, with its bridge.
    let busy = d.docker(&["network", "rm", "nu-one"]);
    assert!(!busy.status.success());
    assert!(
        text(&busy.stderr).contains("active endpoints"),
        "{}",
        text(&busy.stderr)
    );
    let id = inspect(&d, "nu-one", "{{.Id}}");
    d.docker_ok(&["rm", "-f", "nu-a"]);
    d.docker_ok(&["network", "rm", "nu-one"]);
    assert!(!links().contains(&format!("br-{}", &id[..12])));
    let pruned = d.docker_ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("nu-int"), "{pruned}");
    assert!(
        !pruned.contains("nu-two"),
        "nu-two is still used by nu-b: {pruned}"
    );
}

#[test]
fn bad_network_input_is_refused_clearly() {
    let d = Daemon::with_busybox();
    let (subnet, prefix) = random_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "nx-one"]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "network".into(),
                "create".into(),
                "--subnet".into(),
                format!("{prefix}.128/25"),
                "nx-two".into(),
            ],
            "overlaps",
        ),
        (
            vec!["network".into(), "create".into(), "nx-one".into()],
            "already exists",
        ),
        (
            vec![
                "run".into(),
                "--rm".into(),
                "--network".into(),
                "nx-one".into(),
                "--ip".into(),
                "10.99.99.5".into(),
                "busybox".into(),
                "true".into(),
            ],
            "no configured subnet",
        ),
        (
            vec![
                "run".into(),
                "--rm".into(),
                "--ip".into(),
                format!("{prefix}.9"),
                "busybox".into(),
                "true".into(),
            ],
            "user defined networks only",
        ),
        (
            vec![
                "run".into(),
                "--rm".into(),
                "--network".into(),
                "nx-missing".into(),
                "busybox".into(),
                "true".into(),
            ],
            "nx-missing",
        ),
        (
            vec!["network".into(), "rm".into(), "bridge".into()],
            "pre-defined",
        ),
        (
            vec![
                "network".into(),
                "create".into(),
                "-d".into(),
                "overlay".into(),
                "nx-ov".into(),
            ],
            "overlay",
        ),
        (
            vec![
                "run".into(),
                "--rm".into(),
                "--network".into(),
                "nx-one".into(),
                "--mac-address".into(),
                "01:00:5e:00:00:01".into(),
                "busybox".into(),
                "true".into(),
            ],
            "multicast",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = d.docker(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            text(&out.stderr).contains(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // A gateway outside its subnet (the docker CLI checks this itself; the API too).
    let (code, body) = d.http(
        "POST",
        "/networks/create",
        Some(
            r#"{"Name":"nx-gw","IPAM":{"Config":[{"Subnet":"10.1.0.0/24","Gateway":"10.2.0.1"}]}}"#,
        ),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("not a host address of subnet 10.1.0.0/24"),
        "{body}"
    );
    // An address already held.
    let held = format!("{prefix}.7");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "nx-holder",
        "--network",
        "nx-one",
        "--ip",
        &held,
        "busybox",
        "sleep",
        "60",
    ]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "nx-one",
        "--ip",
        &held,
        "busybox",
        "true",
    ]);
    assert!(
        text(&out.stderr).contains("already in use"),
        "{}",
        text(&out.stderr)
    );
    // Nothing half-made: only the holder's veth on the network's bridge.
    let ls = d.docker_ok(&["network", "ls", "-q", "--filter", "name=nx-"]);
    assert_eq!(ls.lines().count(), 1, "{ls}");
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let d = Daemon::with_busybox();
    let (subnet, prefix) = random_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "nc-net"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "nc-peer",
        "--network",
        "nc-net",
        "busybox",
        "sleep",
        "60",
    ]);
    d.docker_ok(&["run", "-d", "--name", "nc-c", "busybox", "sleep", "60"]);
    let peer = inspect(
        &d,
        "nc-peer",
        "{{(index .NetworkSettings.Networks \"nc-net\").IPAddress}}",
    );
    let want = format!("{prefix}.77");
    d.docker_ok(&[
        "network", "connect", "--ip", &want, "--alias", "nc-alias", "nc-net", "nc-c",
    ]);
    assert_eq!(
        inspect(
            &d,
            "nc-c",
            "{{(index .NetworkSettings.Networks \"nc-net\").IPAddress}}"
        ),
        want
    );
    assert!(inspect(&d, "nc-c", "{{json .NetworkSettings.Networks}}").contains("nc-alias"));
    let inside = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "container:nc-c",
        "busybox",
        "sh",
        "-c",
        &format!("ip -o -4 addr show eth1; ping -c1 -W2 {peer}"),
    ]);
    assert!(inside.contains(&format!("{want}/24")), "{inside}");
    assert!(inside.contains("1 packets received"), "{inside}");
    d.docker_ok(&["network", "disconnect", "nc-net", "nc-c"]);
    let after = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "container:nc-c",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert!(!after.contains("eth1"), "{after}");
    assert!(after.contains("eth0"), "{after}");
    assert!(!inspect(&d, "nc-c", "{{json .NetworkSettings.Networks}}").contains("nc-net"));
    let again = d.docker(&["network", "disconnect", "nc-net", "nc-c"]);
    assert!(
        text(&again.stderr).contains("not connected"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn restart_keeps_addresses_and_stop_cleans_up() {
    let mut d = Daemon::with_busybox();
    d.docker_ok(&["run", "-d", "--name", "nr-one", "busybox", "sleep", "60"]);
    let ip = inspect(&d, "nr-one", "{{.NetworkSettings.IPAddress}}");
    d.kill9();
    d.launch();
    assert_eq!(inspect(&d, "nr-one", "{{.NetworkSettings.IPAddress}}"), ip);
    assert!(nft_table(&d.bridge_name()).is_some());
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("ping -c1 -W2 {ip} >/dev/null && ip -o -4 addr show eth0"),
    ]);
    assert!(
        !out.contains(&format!(" {ip}/")),
        "the address was handed out twice: {out}"
    );
    // A graceful stop with nothing running leaves no bridge and no table.
    d.docker_ok(&["rm", "-f", "nr-one"]);
    d.terminate();
    assert!(
        !links().contains(&format!(" {}:", d.bridge_name())),
        "{}",
        links()
    );
    assert!(nft_table(&d.bridge_name()).is_none());
}

#[test]
fn etc_files_follow_the_flags() {
    let d = Daemon::with_busybox();
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--hostname",
        "nf-host",
        "--add-host",
        "nf-extra:10.1.2.3",
        "--dns",
        "10.9.9.9",
        "--dns-search",
        "nf.example",
        "--dns-option",
        "ndots:3",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /etc/hosts /etc/resolv.conf",
    ]);
    assert!(out.starts_with("nf-host\n"), "{out}");
    assert!(out.contains("10.1.2.3\tnf-extra"), "{out}");
    assert!(out.contains("nameserver 10.9.9.9\n"), "{out}");
    assert!(out.contains("search nf.example\n"), "{out}");
    assert!(out.contains("options ndots:3\n"), "{out}");
    let bad = d.docker(&[
        "run",
        "--rm",
        "--add-host",
        "nf-bad:not-an-ip",
        "busybox",
        "true",
    ]);
    assert!(!bad.status.success());
}

#[test]
fn docker_py_networks() {
    let d = Daemon::with_busybox();
    let (subnet, prefix) = random_subnet();
    let out = d.python(&format!(
        r#"
import docker.types
ipam = docker.types.IPAMPool(subnet="{subnet}")
net = client.networks.create("np-net", driver="bridge", ipam=docker.types.IPAMConfig(pool_configs=[ipam]), labels={{"k": "v"}})
c = client.containers.run("busybox", "sleep 60", detach=True, name="np-c", network="np-net")
c.reload()
ip = c.attrs["NetworkSettings"]["Networks"]["np-net"]["IPAddress"]
assert ip.startswith("{prefix}."), ip
net.reload()
assert [x.name for x in net.containers] == ["np-c"], net.containers
assert [n.name for n in client.networks.list(filters={{"label": "k=v"}})] == ["np-net"]
try:
    net.remove()
    raise SystemExit("removed a network in use")
except docker.errors.APIError as e:
    assert e.status_code == 409, e
c.remove(force=True)
net.remove()
print("ok")
"#
    ));
    assert!(
        text(&out.stdout).contains("ok"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn berth_cli_network_verbs() {
    let d = Daemon::with_busybox();
    let ok = |args: &[&str]| {
        let out = d.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    let (subnet, prefix) = random_subnet();
    let id = ok(&[
        "network", "create", "--subnet", &subnet, "--label", "k=v", "bc-net",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let ls = ok(&[
        "network",
        "ls",
        "--filter",
        "label=k=v",
        "--format",
        "{{.Name}} {{.Driver}}",
    ]);
    assert_eq!(ls, "bc-net bridge\n");
    let table = ok(&["network", "ls"]);
    assert!(table.starts_with("NETWORK ID"), "{table}");
    let fixed = format!("{prefix}.9");
    let out = ok(&[
        "run",
        "--rm",
        "--network",
        "bc-net",
        "--ip",
        &fixed,
        "--mac-address",
        "02:00:00:00:00:09",
        "--add-host",
        "bc-extra:10.3.3.3",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; cat /sys/class/net/eth0/address; grep bc-extra /etc/hosts",
    ]);
    assert!(out.contains(&format!("{fixed}/24")), "{out}");
    assert!(out.contains("02:00:00:00:00:09"), "{out}");
    assert!(out.contains("10.3.3.3\tbc-extra"), "{out}");
    ok(&["run", "-d", "--name", "bc-c", "busybox", "sleep", "60"]);
    ok(&[
        "network", "connect", "--alias", "bc-alias", "bc-net", "bc-c",
    ]);
    let members = ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}}{{end}}",
        "bc-net",
    ]);
    assert_eq!(members.trim(), "bc-c");
    let full = ok(&["network", "inspect", "bc-net"]);
    assert!(
        full.starts_with("[\n    {\n        \"Name\": \"bc-net\""),
        "{full}"
    );
    ok(&["network", "disconnect", "bc-net", "bc-c"]);
    let rm = ok(&["network", "rm", "bc-net"]);
    assert_eq!(rm, "bc-net\n");
    let missing = d.berth(&["network", "inspect", "bc-net"]);
    assert!(!missing.status.success());
}

/// A fake upstream name server on a loopback address of its own: answers every A query
/// with 10.7.7.7, and counts them. Ends with the test process.
fn fake_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let (a, b) = {
        let mut r = [0u8; 2];
        // SAFETY: fills our buffer.
        unsafe { libc::getrandom(r.as_mut_ptr().cast(), 2, 0) };
        (r[0], r[1].max(2))
    };
    let ip = format!("127.{}.{a}.{b}", 100 + a % 100);
    let sock = std::net::UdpSocket::bind((ip.as_str(), 53)).unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let q = &buf[..n];
            let mut r = q[..2].to_vec();
            r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..]);
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 7, 7, 7]);
            let _ = sock.send_to(&r, from);
        }
    });
    (ip, count)
}

#[test]
fn embedded_dns_answers_names_aliases_and_short_ids_on_user_networks() {
    let d = Daemon::with_busybox();
    let (upstream, asked) = fake_upstream();
    d.docker_ok(&["network", "create", "nd-net"]);
    d.docker_ok(&["network", "create", "nd-other"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "nd-srv",
        "--network",
        "nd-net",
        "--network-alias",
        "nd-alias",
        "busybox",
        "sleep",
        "60",
    ]);
    let ip = inspect(
        &d,
        "nd-srv",
        "{{(index .NetworkSettings.Networks \"nd-net\").IPAddress}}",
    );
    let short = &inspect(&d, "nd-srv", "{{.Id}}")[..12];
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "nd-net",
        "--dns",
        &upstream,
        "busybox",
        "sh",
        "-c",
        &format!(
            "cat /etc/resolv.conf; for n in nd-srv ND-ALIAS {short}; do nslookup $n; done; \
             ping -c1 -W2 nd-srv; nslookup elsewhere.test"
        ),
    ]);
    assert!(out.starts_with("nameserver 127.0.0.11\n"), "{out}");
    assert_eq!(out.matches(&format!("Address: {ip}")).count(), 3, "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    // Other names go to the container's --dns server, from the daemon's side.
    assert!(out.contains("Address: 10.7.7.7"), "{out}");
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    // A container on another network does not learn the name (the upstream answers).
    let other = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "nd-other",
        "--dns",
        &upstream,
        "busybox",
        "nslookup",
        "nd-srv",
    ]);
    assert!(!other.contains(&ip), "{other}");
    // After a daemon restart the resolver of a running container answers again.
    let mut d = d;
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "nd-cli",
        "--network",
        "nd-net",
        "--dns",
        &upstream,
        "busybox",
        "sleep",
        "60",
    ]);
    d.kill9();
    d.launch();
    let sandbox = inspect(&d, "nd-cli", "{{.NetworkSettings.SandboxKey}}");
    let again = Command::new("nsenter")
        .arg(format!("--net={sandbox}"))
        .args(["busybox", "nslookup", "nd-alias", "127.0.0.11"])
        .output()
        .unwrap();
    assert!(
        text(&again.stdout).contains(&format!("Address: {ip}")),
        "{again:?}"
    );
    // Connected to another user network, its resolver learns that network's names; and
    // forgets them when disconnected (the name then goes upstream).
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "nd-o",
        "--network",
        "nd-other",
        "busybox",
        "sleep",
        "60",
    ]);
    let o_ip = inspect(
        &d,
        "nd-o",
        "{{(index .NetworkSettings.Networks \"nd-other\").IPAddress}}",
    );
    let lookup = || {
        let out = Command::new("nsenter")
            .arg(format!("--net={sandbox}"))
            .args(["busybox", "nslookup", "nd-o", "127.0.0.11"])
            .output()
            .unwrap();
        text(&out.stdout)
    };
    assert!(!lookup().contains(&o_ip));
    d.docker_ok(&["network", "connect", "nd-other", "nd-cli"]);
    assert!(
        lookup().contains(&format!("Address: {o_ip}")),
        "{}",
        lookup()
    );
    d.docker_ok(&["network", "disconnect", "nd-other", "nd-cli"]);
    let after = lookup();
    assert!(
        !after.contains(&o_ip) && after.contains("10.7.7.7"),
        "{after}"
    );
}

#[test]
fn daemon_flags_choose_the_subnets() {
    let (_, prefix) = random_subnet();
    let d = Daemon::start_with_args(&["--bip", &format!("{prefix}.1/24")]);
    d.import_busybox("busybox:latest");
    d.docker_ok(&["run", "-d", "--name", "nbip", "busybox", "sleep", "30"]);
    assert_eq!(
        inspect(&d, "nbip", "{{.NetworkSettings.Gateway}}"),
        format!("{prefix}.1")
    );
    assert!(
        inspect(&d, "nbip", "{{.NetworkSettings.IPAddress}}").starts_with(&format!("{prefix}."))
    );
    let subnet = d.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        "bridge",
    ]);
    assert_eq!(subnet.trim(), format!("{prefix}.0/24"));
    drop(d);

    let (_, other) = random_subnet();
    let base = other.rsplit_once('.').unwrap().0.to_string();
    let d = Daemon::start_with_args(&[
        "--default-address-pool",
        &format!("base={base}.0.0/16,size=24"),
    ]);
    d.docker_ok(&["network", "create", "npool"]);
    let got = d.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        "npool",
    ]);
    assert!(
        got.trim().starts_with(&format!("{base}.")) && got.trim().ends_with(".0/24"),
        "{got}"
    );
    drop(d);

    // Bad flags stop the daemon with a message naming them.
    let dir = tempfile::tempdir().unwrap();
    for (flag, value, want) in [
        ("--bip", "10.1.2.0/24", "--bip"),
        (
            "--default-address-pool",
            "base=10.0.0.0/8",
            "base=CIDR,size=N",
        ),
        ("--bridge-name", "a-name-far-too-long", "bridge name"),
    ] {
        let out = Command::new(daemon_support::BERTH)
            .args(["daemon", "-H"])
            .arg(format!("unix://{}", dir.path().join("s.sock").display()))
            .arg("--data-root")
            .arg(dir.path().join("lib"))
            .arg("--exec-root")
            .arg(dir.path().join("run"))
            .args([flag, value])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag} {value}");
        assert!(
            text(&out.stderr).contains(want),
            "{flag} {value}: {}",
            text(&out.stderr)
        );
    }
}
