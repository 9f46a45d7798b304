//! Published ports end to end: busybox httpd behind `-p`, reached from the host on
//! 127.0.0.1 and from a client namespace the test wires to the host itself (on the
//! addresses the test gave it); UDP through a socket the test opens inside the container's
//! namespace; ports already taken, bad specs; restart. Each test removes its namespace and
//! veth (Drop), the daemon its rules.

mod daemon_support;

use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use daemon_support::{Daemon, text};

fn random_octets() -> (u8, u8) {
    let mut b = [0u8; 2];
    // SAFETY: fills our buffer.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), 2, 0) };
    (b[0], b[1] & 0xfc)
}

/// A client namespace wired to the host by a veth pair: host end `10.x.y.1/30`, client end
/// `10.x.y.2/30` with a default route through it. Removed on drop.
struct Client {
    ns: String,
    host_end: String,
    host_ip: String,
    client_ip: String,
}

impl Client {
    fn new() -> Client {
        let (a, b) = random_octets();
        let tag = format!("{a:02x}{b:02x}");
        let c = Client {
            ns: format!("bpc{tag}"),
            host_end: format!("bph{tag}"),
            host_ip: format!("10.{}.{b}.1", 150 + a % 40),
            client_ip: format!("10.{}.{b}.2", 150 + a % 40),
        };
        let peer = format!("bpp{tag}");
        let run = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().unwrap();
            assert!(st.success(), "ip {args:?}");
        };
        run(&["netns", "add", &c.ns]);
        run(&[
            "link",
            "add",
            &c.host_end,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
            "netns",
            &c.ns,
        ]);
        run(&[
            "addr",
            "add",
            &format!("{}/30", c.host_ip),
            "dev",
            &c.host_end,
        ]);
        run(&["link", "set", &c.host_end, "up"]);
        let inside = |args: &[&str]| {
            let mut full = vec!["netns", "exec", &c.ns, "ip"];
            full.extend_from_slice(args);
            run(&full);
        };
        inside(&["addr", "add", &format!("{}/30", c.client_ip), "dev", &peer]);
        inside(&["link", "set", &peer, "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["route", "add", "default", "via", &c.host_ip]);
        c
    }

    fn curl(&self, url: &str) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, "curl", "-s", "-m", "3", url])
            .output()
            .unwrap()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_end])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn curl(url: &str) -> std::process::Output {
    Command::new("curl")
        .args(["-s", "-m", "3", url])
        .output()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP socket bound inside the network namespace at `path` (a thread enters it, binds,
/// and ends; the socket stays in that namespace).
fn udp_socket_in(path: &str, port: u16) -> UdpSocket {
    let ns = std::fs::File::open(path).unwrap();
    std::thread::spawn(move || {
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        UdpSocket::bind(("0.0.0.0", port)).unwrap()
    })
    .join()
    .unwrap()
}

const HTTPD: &str = "mkdir -p /www && echo hello-berth > /www/index.html && httpd -f -p 80 -h /www";

#[test]
fn published_tcp_and_udp_answer_from_loopback_and_a_client_namespace() {
    let d = Daemon::with_busybox();
    let (web, dns, all) = (free_port(), free_port(), free_port());
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "pp-web",
        "-p",
        &format!("{web}:80"),
        "-p",
        &format!("127.0.0.1:{dns}:53/udp"),
        "-p",
        &format!("{all}:54/udp"),
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let url = format!("http://127.0.0.1:{web}/index.html");
    d.eventually(10, "httpd answering", || {
        curl(&url).stdout.starts_with(b"hello-berth")
    });
    // From another namespace, through the address the test gave the host's end.
    let client = Client::new();
    let out = client.curl(&format!("http://{}:{web}/index.html", client.host_ip));
    assert_eq!(text(&out.stdout), "hello-berth\n", "{out:?}");
    // UDP: a socket inside the container's namespace gets the datagram, with the sender's
    // real address (kernel NAT), and its answer comes back.
    let sandbox = d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "pp-web"]);
    let server = udp_socket_in(sandbox.trim(), 53);
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    sender.send_to(b"ping", ("127.0.0.1", dns)).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    server.send_to(b"pong", from).unwrap();
    let (n, _) = sender.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"pong");
    // Published on 127.0.0.1 only: not on the client namespace's way in.
    let udp_from_client = Command::new("ip")
        .args(["netns", "exec", &client.ns, "python3", "-c"])
        .arg(format!(
            "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('{}', {dns}))",
            client.host_ip
        ))
        .status()
        .unwrap();
    assert!(udp_from_client.success());
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(
        server.recv_from(&mut buf).is_err(),
        "a 127.0.0.1-only port answered elsewhere"
    );
    // On all addresses: the client namespace's datagram arrives with its own address
    // (kernel NAT keeps the source; a proxy would not).
    let server54 = udp_socket_in(sandbox.trim(), 54);
    server54
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let sent = Command::new("ip")
        .args(["netns", "exec", &client.ns, "python3", "-c"])
        .arg(format!(
            "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'hi', ('{}', {all}))",
            client.host_ip
        ))
        .status()
        .unwrap();
    assert!(sent.success());
    let (n, from) = server54.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hi");
    assert_eq!(from.ip().to_string(), client.client_ip);
    // docker port, berth port and inspect agree.
    let ports = d.docker_ok(&["port", "pp-web"]);
    assert!(
        ports.contains(&format!("80/tcp -> 0.0.0.0:{web}")),
        "{ports}"
    );
    assert!(
        ports.contains(&format!("53/udp -> 127.0.0.1:{dns}")),
        "{ports}"
    );
    let one = d.berth(&["port", "pp-web", "80"]);
    assert_eq!(text(&one.stdout), format!("0.0.0.0:{web}\n"));
    let ps = d.docker_ok(&["ps", "--filter", "name=pp-web", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("0.0.0.0:{web}->80/tcp")), "{ps}");
    // Removal frees the port and the rule.
    d.docker_ok(&["rm", "-f", "pp-web"]);
    assert!(std::net::TcpListener::bind(("0.0.0.0", web)).is_ok());
    assert!(!curl(&url).status.success());
}

#[test]
fn hairpin_and_publish_all() {
    let d = Daemon::with_busybox();
    let client = Client::new();
    // -P publishes the exposed port on an ephemeral host port.
    d.docker_ok(&[
        "run", "-d", "--name", "ph-web", "--expose", "80", "-P", "busybox", "sh", "-c", HTTPD,
    ]);
    let port = d.docker_ok(&["port", "ph-web", "80/tcp"]);
    let port = port.trim().rsplit(':').next().unwrap().to_string();
    assert!(port.parse::<u16>().unwrap() > 0, "{port}");
    let url = format!("http://127.0.0.1:{port}/index.html");
    d.eventually(10, "httpd answering", || {
        curl(&url).stdout.starts_with(b"hello-berth")
    });
    // Another container reaches it through a host address (the client namespace's host
    // end, an address of this host): out of the bridge and back in.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        &format!("http://{}:{port}/index.html", client.host_ip),
    ]);
    assert_eq!(out, "hello-berth\n");
}

#[test]
fn port_conflicts_and_bad_specs_are_refused() {
    let d = Daemon::with_busybox();
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "pc-one",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sleep",
        "30",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{}",
        text(&out.stderr)
    );
    // Nothing half-made: the container did not start, holds no address, no rule.
    let state = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.NetworkSettings.IPAddress}}",
        "pc-one",
    ]);
    assert_eq!(state.trim(), "created");
    let table = Command::new("nft")
        .args(["list", "table", "ip", &d.bridge_name()])
        .output()
        .unwrap();
    assert!(
        !text(&table.stdout).contains(&format!("dport {port} ")),
        "{}",
        text(&table.stdout)
    );
    // Two containers cannot publish the same host port.
    let free = free_port();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "pc-a",
        "-p",
        &format!("{free}:80"),
        "busybox",
        "sleep",
        "30",
    ]);
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "pc-b",
        "-p",
        &format!("{free}:80"),
        "busybox",
        "sleep",
        "30",
    ]);
    assert!(
        text(&out.stderr).contains("port is already allocated"),
        "{}",
        text(&out.stderr)
    );
    // Bad specs: the API's own checks (the CLIs check theirs first).
    for (bindings, want) in [
        (
            r#"{"http/tcp":[{"HostPort":"80"}]}"#,
            "invalid port specification",
        ),
        (r#"{"80/sctp":[{"HostPort":"80"}]}"#, "sctp"),
        (r#"{"80/tcp":[{"HostPort":"90-80"}]}"#, "invalid host port"),
        (r#"{"80/tcp":[{"HostIp":"::1","HostPort":"80"}]}"#, "IPv4"),
    ] {
        let body = format!(
            r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{{"PortBindings":{bindings}}}}}"#
        );
        let (code, msg) = d.http("POST", "/containers/create", Some(&body));
        assert_eq!(code, 400, "{bindings}: {msg}");
        assert!(msg.contains(want), "{bindings}: {msg}");
    }
    let cli = d.berth(&["run", "--rm", "-p", "80:http", "busybox", "true"]);
    assert!(
        text(&cli.stderr).contains("invalid port specification"),
        "{}",
        text(&cli.stderr)
    );
    let host = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-p",
        "80:80",
        "busybox",
        "true",
    ]);
    assert!(!host.status.success());
    drop(taken);
}

#[test]
fn ports_survive_a_daemon_restart() {
    let mut d = Daemon::with_busybox();
    let web = free_port();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "pr-web",
        "-p",
        &format!("{web}:80"),
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let url = format!("http://127.0.0.1:{web}/index.html");
    d.eventually(10, "httpd answering", || {
        curl(&url).stdout.starts_with(b"hello-berth")
    });
    d.kill9();
    d.launch();
    assert!(curl(&url).stdout.starts_with(b"hello-berth"));
    // Held again: nothing else can bind it.
    assert!(std::net::TcpListener::bind(("0.0.0.0", web)).is_err());
    let ports = d.docker_ok(&["port", "pr-web"]);
    assert!(ports.contains(&format!("0.0.0.0:{web}")), "{ports}");
}
