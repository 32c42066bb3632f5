//! Hosts of a test's own: Linux network namespaces, each with one interface (`eth0`) and its
//! own address, joined by veth pairs to a bridge in a namespace of their own, so that a fault
//! can cut one path (drop every packet between two hosts, both ways, without closing
//! anything; lose a share of one host's packets) and leave the others. RabbitMQ nodes,
//! services and clients run on them as processes (`ip netns exec`).
//!
//! Needs root and iproute2 (`ip`) and nftables (`nft`); `scripts/test` installs them.
//! Addresses are 10.77.0.x inside the namespaces only: the host machine has no route to them,
//! and no traffic leaves the namespaces a test made. Everything made is removed when the
//! [`TestHosts`] is dropped, and what a crashed test process left behind (namespaces named
//! after a process that no longer runs) is removed by the next one that makes hosts.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Namespaces this module makes are named `ctk<pid>-<n>-<host>`.
const PREFIX: &str = "ctk";

/// A set of hosts on one private network.
pub struct TestHosts {
    hub: String,
    hosts: Vec<Host>,
}

/// One host: a network namespace with an address.
#[derive(Debug)]
pub struct Host {
    /// The name the test gave it, which the other hosts resolve (`/etc/hosts` of the
    /// namespace): RabbitMQ node names use it.
    pub name: String,
    /// The namespace, for `ip netns exec`.
    pub netns: String,
    /// Its address on the hosts' network.
    pub addr: Ipv4Addr,
}

/// Run `program args…` and fail the test with its output if it fails.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program} ({e}): test hosts need root, iproute2 and nftables \
             (scripts/test installs them)"
            )
        });
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Kill every process in `netns`, then delete it and its `/etc/netns` folder.
fn remove(netns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", netns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill")
                .args(["-KILL", pid])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
    let _ = Command::new("ip").args(["netns", "del", netns]).status();
    let _ = std::fs::remove_dir_all(etc(netns));
}

fn etc(netns: &str) -> PathBuf {
    PathBuf::from("/etc/netns").join(netns)
}

/// Remove the namespaces of test processes that are gone.
fn remove_leftovers() {
    let listed = run("ip", &["netns", "list"]);
    for netns in listed.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = netns
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !PathBuf::from("/proc").join(pid).exists() {
            remove(netns);
        }
    }
}

impl TestHosts {
    /// Make one host per name (10.77.0.1, .2, … in order), each resolving the others by name.
    pub fn create(names: &[&str]) -> Self {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        remove_leftovers();
        let pid = std::process::id();
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let id = format!("{PREFIX}{pid}-{n}");
        let hub = format!("{id}-hub");
        let mut made = Self {
            hub: hub.clone(),
            hosts: Vec::new(),
        };
        run("ip", &["netns", "add", &hub]);
        let in_hub = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &hub, "ip"];
            all.extend_from_slice(args);
            run("ip", &all);
        };
        in_hub(&["link", "add", "br0", "type", "bridge"]);
        in_hub(&["link", "set", "br0", "up"]);
        let hosts_file: String = std::iter::once("127.0.0.1 localhost".to_owned())
            .chain(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| format!("10.77.0.{} {name}", i + 1)),
            )
            .map(|line| line + "\n")
            .collect();
        for (i, name) in names.iter().enumerate() {
            let host = Host {
                name: (*name).to_owned(),
                netns: format!("{id}-{name}"),
                addr: Ipv4Addr::new(10, 77, 0, u8::try_from(i + 1).expect("at most 254 hosts")),
            };
            run("ip", &["netns", "add", &host.netns]);
            std::fs::create_dir_all(etc(&host.netns)).expect("/etc/netns");
            std::fs::write(etc(&host.netns).join("hosts"), &hosts_file).expect("hosts file");
            // The bridge's end of the pair, named within 15 characters: unique in the hub.
            let port = format!("p{i}");
            run(
                "ip",
                &[
                    "link",
                    "add",
                    &port,
                    "netns",
                    &hub,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    &host.netns,
                ],
            );
            in_hub(&["link", "set", &port, "master", "br0", "up"]);
            let cidr = format!("{}/24", host.addr);
            host.ip(&["addr", "add", &cidr, "dev", "eth0"]);
            host.ip(&["link", "set", "eth0", "up"]);
            host.ip(&["link", "set", "lo", "up"]);
            made.hosts.push(host);
        }
        made
    }

    /// The host named `name`.
    ///
    /// # Panics
    /// If there is none.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    /// Every host, in the order they were named.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        for host in &self.hosts {
            remove(&host.netns);
        }
        remove(&self.hub);
    }
}

impl Host {
    /// `program` to be run on this host (`ip netns exec <netns> program`).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.netns, program]);
        command
    }

    fn ip(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.netns, "ip"];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// Drop every packet between this host and `peers`, both ways, from now on: open
    /// connections stay open and hear nothing (no FIN, no RST), new ones time out. Replaces
    /// what an earlier call dropped.
    pub fn drop_traffic_with(&self, peers: &[&Host]) {
        let set: Vec<String> = peers.iter().map(|p| p.addr.to_string()).collect();
        let set = set.join(", ");
        let rules = format!(
            "table inet contracts_faults {{}}\n\
             delete table inet contracts_faults\n\
             table inet contracts_faults {{\n\
               chain input {{ type filter hook input priority 0; ip saddr {{ {set} }} drop; }}\n\
               chain output {{ type filter hook output priority 0; ip daddr {{ {set} }} drop; }}\n\
             }}\n"
        );
        self.nft(&rules);
    }

    /// Let traffic through again.
    pub fn restore_traffic(&self) {
        self.nft("table inet contracts_faults {}\ndelete table inet contracts_faults\n");
    }

    fn nft(&self, rules: &str) {
        use std::io::Write;
        let mut child = self
            .command("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("nft runs (test hosts need nftables; scripts/test installs it)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(rules.as_bytes())
            .expect("write the rules");
        let status = child.wait().expect("nft");
        assert!(status.success(), "nft -f failed on {}:\n{rules}", self.name);
    }

    /// Drop `percent` of the packets this host sends and receives, at random, from now on
    /// (nftables' `numgen random`): a lossy link, which TCP rides out by retransmitting.
    /// `0` ends it. (Latency would need `tc netem`, which the kernels these tests run on
    /// lack: book/src/fault-suite.md.)
    pub fn lose_packets(&self, percent: u8) {
        let mut rules =
            "table inet contracts_loss {}\ndelete table inet contracts_loss\n".to_owned();
        if percent > 0 {
            rules.push_str(&format!(
                "table inet contracts_loss {{\n\
                   chain input {{ type filter hook input priority 0; iifname \"eth0\" numgen random mod 100 < {percent} drop; }}\n\
                   chain output {{ type filter hook output priority 0; oifname \"eth0\" numgen random mod 100 < {percent} drop; }}\n\
                 }}\n"
            ));
        }
        self.nft(&rules);
    }

    /// Whether a TCP connection from this host to `addr:port` succeeds within a second.
    pub fn can_connect(&self, addr: Ipv4Addr, port: u16) -> bool {
        self.command("timeout")
            .args([
                "1",
                "bash",
                "-c",
                &format!("exec 3<>/dev/tcp/{addr}/{port}"),
            ])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}
