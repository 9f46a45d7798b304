//! berth-network against the real kernel: a bridge, two namespaces wired to it by veth
//! pairs, traffic between them, and berth's nft table. Every test removes its bridge,
//! namespaces and table, also when it fails (Drop guards).

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::process::Command;

use berth_network::endpoint::{self, Endpoint};
use berth_network::firewall::{self, BridgeRules};
use berth_network::netlink::Netlink;
use berth_network::{Ipv4Net, bridge};

fn unique(prefix: &str) -> String {
    let mut b = [0u8; 4];
    // SAFETY: fills our 4-byte buffer.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), 4, 0) };
    format!("{prefix}{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3])
}

/// A named netns (`ip netns add`), deleted on drop.
struct Ns(String);

impl Ns {
    fn new() -> Ns {
        let name = unique("bnt");
        assert!(
            Command::new("ip")
                .args(["netns", "add", &name])
                .status()
                .unwrap()
                .success()
        );
        Ns(name)
    }

    fn file(&self) -> std::fs::File {
        std::fs::File::open(format!("/run/netns/{}", self.0)).unwrap()
    }

    fn run(&self, cmd: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(cmd)
            .output()
            .unwrap()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A bridge and an nft table of the test, deleted on drop.
struct Bridge {
    name: String,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let mut nl = Netlink::open().unwrap();
        let _ = bridge::remove(&mut nl, &self.name);
        let _ = firewall::delete_table(&self.name);
    }
}

/// A /24 in 10.250-254.x.0 unlikely to clash with parallel runs.
fn test_subnet() -> Ipv4Net {
    let mut b = [0u8; 2];
    // SAFETY: fills our buffer.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), 2, 0) };
    Ipv4Net::new(Ipv4Addr::new(10, 250 + b[0] % 5, b[1], 0), 24).unwrap()
}

#[test]
fn two_namespaces_talk_through_a_bridge() {
    let br = Bridge {
        name: unique("bnb"),
    };
    let subnet = test_subnet();
    let base = u32::from(subnet.network());
    let gw = Ipv4Addr::from(base + 1);
    let mut nl = Netlink::open().unwrap();
    let index = bridge::ensure(&mut nl, &br.name, gw, 24).unwrap();
    // Idempotent: a restarted daemon finds it as it was.
    assert_eq!(bridge::ensure(&mut nl, &br.name, gw, 24).unwrap(), index);
    assert_eq!(
        bridge::current_address(&mut nl, &br.name).unwrap(),
        Some((gw, subnet))
    );
    let (a, b) = (Ns::new(), Ns::new());
    let mut eps = Vec::new();
    for (i, ns) in [&a, &b].into_iter().enumerate() {
        let ip = Ipv4Addr::from(base + 2 + i as u32);
        let ep = Endpoint {
            host_veth: unique("vbt"),
            ifname: "eth0".into(),
            address: ip,
            prefix: 24,
            gateway: Some(gw),
            mac: endpoint::mac_for(ip),
        };
        endpoint::attach(&mut nl, index, ns.file().as_fd(), &ep).unwrap();
        let port = nl.link_by_name(&ep.host_veth).unwrap().unwrap();
        assert_eq!(port.master, Some(index));
        eps.push(ep);
    }
    let addr = a.run(&["ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(
        String::from_utf8_lossy(&addr.stdout).contains(&format!("{}/24", eps[0].address)),
        "{addr:?}"
    );
    let route = a.run(&["ip", "route", "show", "default"]);
    assert!(String::from_utf8_lossy(&route.stdout).contains(&format!("via {gw}")));
    let link = a.run(&["cat", "/sys/class/net/eth0/address"]);
    assert_eq!(
        String::from_utf8_lossy(&link.stdout).trim(),
        endpoint::format_mac(&eps[0].mac)
    );
    let ping = a.run(&["busybox", "ping", "-c1", "-W2", &eps[1].address.to_string()]);
    assert!(ping.status.success(), "{ping:?}");
    // The gateway (the host side) answers too.
    assert!(
        a.run(&["busybox", "ping", "-c1", "-W2", &gw.to_string()])
            .status
            .success()
    );
    // Detaching removes both ends.
    endpoint::detach(&mut nl, &eps[1].host_veth);
    assert!(nl.link_by_name(&eps[1].host_veth).unwrap().is_none());
    assert!(!b.run(&["ip", "link", "show", "eth0"]).status.success());
    assert!(
        !a.run(&["busybox", "ping", "-c1", "-W1", &eps[1].address.to_string()])
            .status
            .success()
    );
}

#[test]
fn an_address_clash_leaves_no_veth() {
    let br = Bridge {
        name: unique("bnb"),
    };
    let subnet = test_subnet();
    let gw = Ipv4Addr::from(u32::from(subnet.network()) + 1);
    let mut nl = Netlink::open().unwrap();
    let index = bridge::ensure(&mut nl, &br.name, gw, 24).unwrap();
    let ns = Ns::new();
    let ep = Endpoint {
        host_veth: unique("vbt"),
        ifname: "eth0".into(),
        address: gw,
        prefix: 24,
        // A gateway that is not on the link: the route is refused after the veth exists.
        gateway: Some(Ipv4Addr::new(192, 0, 2, 254)),
        mac: endpoint::mac_for(gw),
    };
    let err = endpoint::attach(&mut nl, index, ns.file().as_fd(), &ep).unwrap_err();
    assert!(err.to_string().contains("default route"), "{err}");
    assert!(nl.link_by_name(&ep.host_veth).unwrap().is_none());
    let dup = nl.add_bridge(&br.name).unwrap_err();
    assert!(dup.to_string().contains(&br.name), "{dup}");
}

#[test]
fn nft_table_applied_and_removed() {
    let br = Bridge {
        name: unique("bnb"),
    };
    let subnet = test_subnet();
    firewall::apply(
        &br.name,
        &[BridgeRules {
            bridge: br.name.clone(),
            subnet,
            internal: false,
        }],
        &[],
    )
    .unwrap();
    let listed = Command::new("nft")
        .args(["list", "table", "ip", &br.name])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains(&format!(
            "ip saddr {subnet} oifname != \"{}\" masquerade",
            br.name
        )),
        "{text}"
    );
    // Applying again replaces, never duplicates.
    firewall::apply(&br.name, &[], &[]).unwrap();
    let listed = Command::new("nft")
        .args(["list", "table", "ip", &br.name])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("masquerade"));
    firewall::delete_table(&br.name).unwrap();
    assert!(
        !Command::new("nft")
            .args(["list", "table", "ip", &br.name])
            .output()
            .unwrap()
            .status
            .success()
    );
    let bad = firewall::apply(
        &br.name,
        &[BridgeRules {
            bridge: "bad\"name".into(),
            subnet,
            internal: false,
        }],
        &[],
    )
    .unwrap_err();
    assert!(bad.to_string().starts_with("nftables:"), "{bad}");
}

#[test]
fn a_leftover_veth_of_the_same_name_is_replaced() {
    let br = Bridge {
        name: unique("bnb"),
    };
    let subnet = test_subnet();
    let gw = Ipv4Addr::from(u32::from(subnet.network()) + 1);
    let ip = Ipv4Addr::from(u32::from(subnet.network()) + 2);
    let mut nl = Netlink::open().unwrap();
    let index = bridge::ensure(&mut nl, &br.name, gw, 24).unwrap();
    let ep = Endpoint {
        host_veth: unique("vbt"),
        ifname: "eth0".into(),
        address: ip,
        prefix: 24,
        gateway: Some(gw),
        mac: endpoint::mac_for(ip),
    };
    // The first namespace still holds the pair (as one not torn down yet would).
    let (old, new) = (Ns::new(), Ns::new());
    endpoint::attach(&mut nl, index, old.file().as_fd(), &ep).unwrap();
    endpoint::attach(&mut nl, index, new.file().as_fd(), &ep).unwrap();
    assert!(!old.run(&["ip", "link", "show", "eth0"]).status.success());
    let addr = new.run(&["ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(String::from_utf8_lossy(&addr.stdout).contains(&format!("{ip}/24")));
    endpoint::detach(&mut nl, &ep.host_veth);
}
