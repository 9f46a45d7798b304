//! The parts of the networking checklist the other network tests leave out: port ranges,
//! `-P` with the image's own EXPOSE, a daemon restart with a user network, a fixed address
//! and MAC, and published ports all kept (and a new publish after it not undoing them), the
//! refusal to remove a network in use naming its containers, and failed publishes and
//! connects leaving nothing behind. Traffic goes only to
//! 127.0.0.1 and to the containers the tests made.

mod daemon_support;
mod network_support;

use std::net::TcpListener;
use std::process::Command;

use daemon_support::{Daemon, text};
use network_support::{NO_UPSTREAM, inspect, links, nft_table, random_subnet};

const HTTPD: &str = "mkdir -p /www && echo hello-berth > /www/index.html && httpd -f -p 80 -h /www";

/// `n` consecutive host ports free right now.
fn free_ports(n: u16) -> u16 {
    loop {
        let first = TcpListener::bind("0.0.0.0:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if first < u16::MAX - n && (0..n).all(|i| TcpListener::bind(("0.0.0.0", first + i)).is_ok())
        {
            return first;
        }
    }
}

fn get(port: u16) -> String {
    let out = Command::new("curl")
        .args(["-s", "-m", "3"])
        .arg(format!("http://127.0.0.1:{port}/index.html"))
        .output()
        .unwrap();
    text(&out.stdout)
}

#[test]
fn port_ranges_and_publish_all_of_the_images_expose() {
    let d = Daemon::with_busybox();
    // A range onto a range: one host port per container port.
    let p = free_ports(2);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ng-range",
        "-p",
        &format!("{p}-{}:80-81", p + 1),
        "busybox",
        "sh",
        "-c",
        &format!("mkdir -p /www && httpd -p 81 -h /www && {HTTPD}"),
    ]);
    d.eventually(10, "both ports answering", || {
        get(p) == "hello-berth\n" && get(p + 1) == "hello-berth\n"
    });
    let ports = d.docker_ok(&["port", "ng-range"]);
    assert!(ports.contains(&format!("80/tcp -> 0.0.0.0:{p}")), "{ports}");
    assert!(
        ports.contains(&format!("81/tcp -> 0.0.0.0:{}", p + 1)),
        "{ports}"
    );
    // A host range for one port: the first port is taken, another one of the range is used.
    let q = free_ports(3);
    let taken = TcpListener::bind(("0.0.0.0", q)).unwrap();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ng-pick",
        "-p",
        &format!("{q}-{}:80", q + 2),
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let got: u16 = d
        .docker_ok(&["port", "ng-pick", "80/tcp"])
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(got == q + 1 || got == q + 2, "{got} not in {q}+1..={q}+2");
    d.eventually(10, "the picked port answering", || {
        get(got) == "hello-berth\n"
    });
    drop(taken);
    // -P publishes what the image itself exposes (here set by commit --change, as a
    // Dockerfile's EXPOSE would), TCP and UDP, on ephemeral host ports.
    d.docker_ok(&["run", "--name", "ng-base", "busybox", "true"]);
    d.docker_ok(&[
        "commit",
        "--change",
        "EXPOSE 80 54/udp",
        "ng-base",
        "ng-exposing:1",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ng-all",
        "-P",
        "ng-exposing:1",
        "sh",
        "-c",
        HTTPD,
    ]);
    let ports = d.docker_ok(&["port", "ng-all"]);
    let host_port = |key: &str| -> u16 {
        ports
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{key} not published: {ports}"))
    };
    let web = host_port("80/tcp -> 0.0.0.0:");
    let udp = host_port("54/udp -> 0.0.0.0:");
    assert!(web > 0 && udp > 0, "{ports}");
    d.eventually(10, "the -P port answering", || get(web) == "hello-berth\n");
    // The UDP port is held: nothing else on the host can bind it.
    assert!(std::net::UdpSocket::bind(("0.0.0.0", udp)).is_err());
    assert_eq!(
        inspect(
            &d,
            "ng-all",
            "{{(index (index .NetworkSettings.Ports \"54/udp\") 0).HostPort}}"
        ),
        udp.to_string()
    );
}

#[test]
fn restart_keeps_user_network_addresses_and_ports_answering() {
    let mut d = Daemon::with_busybox();
    let (subnet, prefix) = random_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "ng-net"]);
    let (ip, mac) = (format!("{prefix}.9"), "02:42:0a:0b:0c:0d");
    let web = free_ports(1);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ng-web",
        "--network",
        "ng-net",
        "--ip",
        &ip,
        "--mac-address",
        mac,
        "-p",
        &format!("{web}:80"),
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let endpoint =
        "{{with index .NetworkSettings.Networks \"ng-net\"}}{{.IPAddress}} {{.MacAddress}}{{end}}";
    assert_eq!(inspect(&d, "ng-web", endpoint), format!("{ip} {mac}"));
    let inside = d.docker_ok(&["exec", "ng-web", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(inside.trim(), mac);
    d.eventually(10, "httpd answering", || get(web) == "hello-berth\n");
    // Removing the network while it is in use: a 409 that names the container.
    let busy = d.docker(&["network", "rm", "ng-net"]);
    assert!(
        !busy.status.success() && text(&busy.stderr).contains("ng-web"),
        "{}",
        text(&busy.stderr)
    );
    let (code, body) = d.http("DELETE", "/networks/ng-net", None);
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("ng-web"), "{body}");

    d.kill9();
    d.launch();
    assert_eq!(inspect(&d, "ng-web", endpoint), format!("{ip} {mac}"));
    assert_eq!(get(web), "hello-berth\n");
    // A publish after the restart rewrites the table: the old port must stay in it.
    let web2 = free_ports(1);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ng-web2",
        "--network",
        "ng-net",
        "-p",
        &format!("{web2}:80"),
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    d.eventually(10, "the new port answering", || {
        get(web2) == "hello-berth\n"
    });
    assert_eq!(get(web), "hello-berth\n");
    // The address is still held (the new container got another) and the name resolves.
    let ip2 = inspect(
        &d,
        "ng-web2",
        "{{(index .NetworkSettings.Networks \"ng-net\").IPAddress}}",
    );
    assert_ne!(ip2, ip);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "ng-net",
        "--dns",
        NO_UPSTREAM,
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://ng-web/index.html",
    ]);
    assert_eq!(out, "hello-berth\n");
}

/// Deletes a link the test named, when dropped.
struct LinkGuard(String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn network_create_takes_ip_range_gateway_and_bridge_name() {
    let (subnet, prefix) = random_subnet();
    // A bridge name of the test's own, removed with the network (or by the guard, after the
    // daemon, if the test fails first).
    let guard = LinkGuard(format!("bng{}", prefix.replace('.', "")));
    let bridge = guard.0.as_str();
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "--ip-range",
        &format!("{prefix}.128/25"),
        "--gateway",
        &format!("{prefix}.254"),
        "-o",
        &format!("com.docker.network.bridge.name={bridge}"),
        "ng-ranged",
    ]);
    assert_eq!(
        inspect(
            &d,
            "ng-ranged",
            "{{with index .IPAM.Config 0}}{{.Subnet}} {{.IPRange}} {{.Gateway}}{{end}}"
        ),
        format!("{subnet} {prefix}.128/25 {prefix}.254")
    );
    let addr = Command::new("ip")
        .args(["-o", "-4", "addr", "show", "dev", bridge])
        .output()
        .unwrap();
    assert!(
        text(&addr.stdout).contains(&format!("{prefix}.254/24")),
        "{addr:?}"
    );
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "ng-ranged",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ip route",
    ]);
    let ip: std::net::Ipv4Addr = out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address: {out}"));
    assert!(
        ip.to_string().starts_with(&format!("{prefix}.")) && ip.octets()[3] >= 128,
        "{ip} outside {prefix}.128/25"
    );
    assert!(
        out.contains(&format!("default via {prefix}.254 dev eth0")),
        "{out}"
    );
    d.docker_ok(&["network", "rm", "ng-ranged"]);
    let gone = Command::new("ip")
        .args(["link", "show", "dev", bridge])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "bridge {bridge} left behind");
}

#[test]
fn a_container_that_died_while_the_daemon_was_down_is_cleaned_up_at_restart() {
    let mut d = Daemon::with_busybox();
    let (subnet, prefix) = random_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "ng-crash"]);
    let ip = format!("{prefix}.5");
    let port = free_ports(1);
    let id = d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ng-dies",
        "--network",
        "ng-crash",
        "--ip",
        &ip,
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sleep",
        "600",
    ]);
    let veth = format!("vb{}0", &id.trim()[..10]);
    let pid: i32 = inspect(&d, "ng-dies", "{{.State.Pid}}").parse().unwrap();
    d.kill9();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    d.launch();
    d.eventually(10, "the exit recorded", || {
        inspect(&d, "ng-dies", "{{.State.Status}}") == "exited"
    });
    // Its port, rule, veth and address are given back.
    assert!(TcpListener::bind(("0.0.0.0", port)).is_ok());
    let table = nft_table(&d.bridge_name()).unwrap_or_default();
    assert!(!table.contains(&format!("dport {port} ")), "{table}");
    d.eventually(10, "the veth gone", || !links().contains(&veth));
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "ng-crash",
        "--ip",
        &ip,
        "busybox",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(out.contains(&format!("{ip}/24")), "{out}");
}

#[test]
fn a_failed_publish_or_connect_leaves_nothing_half_made() {
    let d = Daemon::with_busybox();
    // Two ports, the second already taken: the first is not held nor routed either.
    let free = free_ports(1);
    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "ng-half",
        "-p",
        &format!("{free}:80"),
        "-p",
        &format!("{busy}:81"),
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(
        text(&out.stderr).contains(&format!(
            "Bind for 0.0.0.0:{busy} failed: port is already allocated"
        )),
        "{}",
        text(&out.stderr)
    );
    assert!(TcpListener::bind(("0.0.0.0", free)).is_ok());
    let table = nft_table(&d.bridge_name()).unwrap_or_default();
    assert!(!table.contains(&format!("dport {free} ")), "{table}");
    assert_eq!(inspect(&d, "ng-half", "{{.State.Status}}"), "created");
    // The monitor had created the container while the ports were being published: the
    // runtime's container is gone with the failed start, and so is the container's namespace.
    let id = inspect(&d, "ng-half", "{{.Id}}");
    let exec_root = d.exec_root();
    for left in [
        exec_root.join("runtime").join(&id),
        exec_root.join("netns").join(&id),
    ] {
        assert!(!left.exists(), "{} left behind", left.display());
    }
    drop(taken);
    // Connecting a running container with an address another holds: refused, and the
    // container keeps only what it had (no new interface, no record of the network).
    let (subnet, prefix) = random_subnet();
    d.docker_ok(&["network", "create", "--subnet", &subnet, "ng-held"]);
    let held = format!("{prefix}.20");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ng-holder",
        "--network",
        "ng-held",
        "--ip",
        &held,
        "busybox",
        "sleep",
        "60",
    ]);
    d.docker_ok(&["run", "-d", "--name", "ng-late", "busybox", "sleep", "60"]);
    let out = d.docker(&["network", "connect", "--ip", &held, "ng-held", "ng-late"]);
    assert!(
        text(&out.stderr).contains("already in use"),
        "{}",
        text(&out.stderr)
    );
    let nets = inspect(&d, "ng-late", "{{json .NetworkSettings.Networks}}");
    assert!(!nets.contains("ng-held"), "{nets}");
    let ifaces = d.docker_ok(&["exec", "ng-late", "ls", "/sys/class/net"]);
    assert_eq!(
        ifaces.split_whitespace().collect::<Vec<_>>(),
        ["eth0", "lo"]
    );
    let hosts = d.docker_ok(&["exec", "ng-late", "cat", "/etc/hosts"]);
    assert!(!hosts.contains(&held), "{hosts}");
    // The holder still has its address, and the late one can join with a free one.
    d.docker_ok(&["network", "connect", "ng-held", "ng-late"]);
    let ifaces = d.docker_ok(&["exec", "ng-late", "ls", "/sys/class/net"]);
    assert_eq!(
        ifaces.split_whitespace().collect::<Vec<_>>(),
        ["eth0", "eth1", "lo"]
    );
}

#[test]
fn a_torn_address_pool_is_started_afresh() {
    let mut d = Daemon::with_busybox();
    let (subnet, prefix) = random_subnet();
    let id = d.docker_ok(&["network", "create", "--subnet", &subnet, "torn-net"]);
    d.docker_ok(&["run", "--rm", "--network", "torn-net", "busybox", "true"]);
    let pool = d
        .data_root()
        .join("networks/ipam")
        .join(format!("{}.json", id.trim()));
    assert!(pool.exists(), "{} was written", pool.display());
    d.terminate();
    // What a power loss can leave of a file written without fsync.
    std::fs::write(&pool, b"{\"subnet\":\"10.").unwrap();
    d.launch();
    let ip = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "torn-net",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0",
    ]);
    assert!(ip.contains(&format!("inet {prefix}.")), "{ip}");
    assert!(d.log().contains("afresh"), "{}", d.log());
    d.docker_ok(&["network", "rm", "torn-net"]);
}
