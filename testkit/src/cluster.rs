//! RabbitMQ nodes of a test's own, for faults that must not disturb the broker other tests
//! share: restarts, a node failing over, memory alarms. Each node has its own name, AMQP and
//! distribution ports, data and log folders (owned by the `rabbitmq` user, which the server
//! runs as) and config file; several are joined into one cluster, with a policy that mirrors
//! every classic queue on every node, so that a queue survives the node it lived on.
//!
//! Classic mirrored queues, not quorum queues: the queues keep Nameko's exact declaration (a
//! quorum queue is declared with an `x-queue-type` argument, which Nameko's declaration would
//! then contradict), and a policy applies without touching declarations.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use contracts_amqp::BrokerUri;

use crate::certs::TestCerts;

/// One node of a [`FaultCluster`].
pub struct FaultNode {
    /// The Erlang node name, `<name>@localhost`.
    pub name: String,
    /// Its AMQP port on 127.0.0.1.
    pub port: u16,
    /// Its AMQP-over-TLS port, on a node started by [`FaultCluster::start_tls`].
    pub tls_port: Option<u16>,
    /// Its folder: config, data, logs and pid file.
    home: PathBuf,
    dist_port: u16,
    /// The address clients connect to: 127.0.0.1, or its host's.
    addr: Ipv4Addr,
    /// The network namespace of its host ([`crate::TestHosts`]), if it runs on one.
    netns: Option<String>,
}

/// Nodes started for a test, stopped and deleted when dropped.
pub struct FaultCluster {
    dir: PathBuf,
    nodes: Vec<FaultNode>,
    certs: Option<TestCerts>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))
        .is_ok()
}

/// `program`, on `netns` when there is one.
fn command(netns: Option<&str>, program: &str) -> Command {
    match netns {
        Some(netns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", netns, program]);
            command
        }
        None => Command::new(program),
    }
}

/// The RabbitMQ command-line tool `program` (`rabbitmqctl`, `rabbitmq-queues`), on `netns`
/// when there is one, ended after two minutes: a node stuck after a partition can leave a
/// tool waiting on it for ever (seen: `rabbitmqctl stop` on a paused node, 20 minutes), and
/// a test must fail, not hang.
fn tool(netns: Option<&str>, program: &str) -> Command {
    let mut command = command(netns, "timeout");
    command.args(["--kill-after=10", "120", program]);
    command
}

/// Run `rabbitmqctl -n <node> args…` (on `netns`), failing the test with its output if it
/// fails.
fn ctl(netns: Option<&str>, node: &str, args: &[&str]) -> String {
    let out = tool(netns, "rabbitmqctl")
        .arg("-n")
        .arg(node)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run rabbitmqctl ({e}): the fault tests need rabbitmq-server installed")
        });
    assert!(
        out.status.success(),
        "rabbitmqctl -n {node} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl FaultNode {
    /// `rabbitmqctl -n <this node> args…`.
    pub fn ctl(&self, args: &[&str]) -> String {
        ctl(self.netns.as_deref(), &self.name, args)
    }

    /// The members of the quorum queue `queue` of vhost `/` (node names), as this node's
    /// `rabbitmq-queues quorum_status` lists them.
    pub fn quorum_members(&self, queue: &str) -> Vec<String> {
        self.quorum_status(queue)
            .iter()
            .filter_map(|row| row["Node Name"].as_str().map(str::to_owned))
            .collect()
    }

    /// The node that leads the quorum queue `queue` of vhost `/`.
    pub fn quorum_leader(&self, queue: &str) -> String {
        let status = self.quorum_status(queue);
        status
            .iter()
            .find(|row| row["Raft State"] == "leader")
            .and_then(|row| row["Node Name"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("{queue} has no leader: {status:?}"))
    }

    /// `rabbitmq-queues -n <this node> args…`, failing the test with its output if it fails.
    pub fn queues(&self, args: &[&str]) -> String {
        let out = tool(self.netns.as_deref(), "rabbitmq-queues")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .expect("rabbitmq-queues runs");
        assert!(
            out.status.success(),
            "rabbitmq-queues {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn quorum_status(&self, queue: &str) -> Vec<serde_json::Value> {
        let listed = self.queues(&["quorum_status", queue, "--formatter", "json", "-q"]);
        serde_json::from_str(&listed).expect("quorum_status lists JSON")
    }

    /// The nodes this node sees running in its cluster (0 when it cannot tell, as while it
    /// pauses).
    pub fn running_nodes(&self) -> usize {
        let out = tool(self.netns.as_deref(), "rabbitmqctl")
            .args([
                "-n",
                &self.name,
                "cluster_status",
                "--formatter",
                "json",
                "-q",
            ])
            .output();
        out.ok()
            .filter(|o| o.status.success())
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .and_then(|v| v["running_nodes"].as_array().map(Vec::len))
            .unwrap_or(0)
    }

    /// The node's AMQP URI for `vhost` (guest may connect from loopback).
    pub fn uri(&self, vhost: &str) -> BrokerUri {
        self.raw_uri(vhost).parse().expect("the node's URI parses")
    }

    /// [`Self::uri`] with its password, for config files and child processes.
    pub fn raw_uri(&self, vhost: &str) -> String {
        self.raw_uri_as("guest", vhost)
    }

    fn raw_uri_as(&self, user: &str, vhost: &str) -> String {
        let vhost = if vhost == "/" { "%2f" } else { vhost };
        format!("amqp://{user}:{user}@{}:{}/{vhost}", self.addr, self.port)
    }

    /// Add a user (its password is its name) with every permission on `/`, and return its
    /// URI: connections made with it can be told apart and closed on their own
    /// ([`Self::close_connections_of`]).
    pub fn add_user(&self, user: &str) -> BrokerUri {
        self.ctl(&["add_user", user, user, "-q"]);
        self.ctl(&["set_permissions", "-p", "/", user, ".*", ".*", ".*", "-q"]);
        self.raw_uri_as(user, "/")
            .parse()
            .expect("the user's URI parses")
    }

    /// `rabbitmqctl close_connection` on every connection of `user`; returns how many.
    pub fn close_connections_of(&self, user: &str) -> usize {
        let listing = self.ctl(&[
            "list_connections",
            "user",
            "pid",
            "-q",
            "--no-table-headers",
        ]);
        let pids: Vec<&str> = listing
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .filter(|(who, _)| *who == user)
            .map(|(_, pid)| pid.trim())
            .collect();
        for pid in &pids {
            self.ctl(&["close_connection", pid, "fault suite: closed", "-q"]);
        }
        pids.len()
    }

    /// Stop the RabbitMQ application (the Erlang node stays up): every connection drops and
    /// new ones are refused, as in a broker restart.
    pub fn stop_app(&self) {
        self.ctl(&["stop_app", "-q"]);
    }

    /// Start the application again and wait until it takes connections.
    pub fn start_app(&self) {
        self.ctl(&["start_app", "-q"]);
        self.wait_for_port();
    }

    /// Kill the node's Erlang VM with `SIGKILL`, as a crash or the OOM killer would: no
    /// connection is closed, nothing is flushed. Returns once the VM is gone.
    pub fn kill(&self) {
        let pid_file = self.home.join("pid");
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("{}: {e}", pid_file.display()));
        let pid = pid.trim();
        let killed = Command::new("kill")
            .args(["-KILL", pid])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -KILL {pid} ({})", self.name);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(Instant::now() < deadline, "{} outlived SIGKILL", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Restart a node that is stuck, as an operator would: its VM killed (a stuck node may
    /// not answer `rabbitmqctl stop`: seen waiting 20 minutes) and started again on its data;
    /// returns once it takes connections.
    pub fn restart(&self) {
        self.kill();
        self.start();
    }

    /// Stop the whole node, its Erlang VM included (`rabbitmqctl stop`), as a shutdown does.
    pub fn stop(&self) {
        self.ctl(&["stop", "-q"]);
    }

    /// Start a node that was killed or stopped, on its own data, and wait until it takes
    /// connections.
    pub fn start(&self) {
        launch(self);
        self.wait_for_port();
    }

    /// The last lines of each of the node's log files, for a failure's message.
    fn log_tail(&self) -> String {
        let Ok(files) = std::fs::read_dir(self.home.join("log")) else {
            return "(no log folder)".into();
        };
        let mut tail = String::new();
        for file in files.flatten() {
            let text = std::fs::read_to_string(file.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            tail += &format!("== {}\n", file.path().display());
            for line in &lines[lines.len().saturating_sub(15)..] {
                tail += line;
                tail.push('\n');
            }
        }
        tail
    }

    /// Whether the node takes connections: its AMQP port, and its TLS port if it has one.
    fn listens(&self) -> bool {
        let open = |port: u16| match &self.netns {
            None => port_open(port),
            Some(netns) => command(Some(netns), "bash")
                .args(["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
        };
        std::iter::once(self.port).chain(self.tls_port).all(open)
    }

    /// Wait (a minute at most) until the node [listens](Self::listens).
    fn wait_for_port(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.listens() {
            assert!(
                Instant::now() < deadline,
                "node {} never listened on {}; the end of its logs:\n{}",
                self.name,
                self.port,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl FaultCluster {
    /// Start `size` nodes named after `label`, joined into one cluster with every classic
    /// queue mirrored on every node. Fails the test, saying what is missing, when
    /// `rabbitmq-server` cannot start them.
    pub fn start(label: &str, size: usize) -> Self {
        assert!(size >= 1);
        let (id, dir) = folder(label);
        let mut cluster = Self {
            dir: dir.clone(),
            nodes: Vec::new(),
            certs: None,
        };
        for i in 0..size {
            cluster
                .nodes
                .push(start_node(&dir, &format!("{id}n{i}"), None));
        }
        let first = cluster.nodes[0].name.clone();
        for node in &cluster.nodes[1..] {
            node.ctl(&["stop_app", "-q"]);
            node.ctl(&["join_cluster", &first, "-q"]);
            node.start_app();
        }
        cluster.nodes[0].ctl(&[
            "set_policy",
            "mirror-all",
            ".*",
            r#"{"ha-mode":"all","ha-sync-mode":"automatic"}"#,
            "--apply-to",
            "queues",
            "-q",
        ]);
        cluster
    }

    /// One node on each of `hosts` ([`crate::TestHosts`]), named `rabbit@<host>`, listening
    /// on the host's address (AMQP 5672, distribution 25672), joined into one cluster. No
    /// mirroring: queues that must outlive a node are quorum queues.
    pub fn start_on(label: &str, hosts: &[&crate::Host]) -> Self {
        assert!(!hosts.is_empty());
        let (_, dir) = folder(label);
        let mut cluster = Self {
            dir: dir.clone(),
            nodes: Vec::new(),
            certs: None,
        };
        for host in hosts {
            let home = dir.join(&host.name);
            let node = FaultNode {
                name: format!("rabbit@{}", host.name),
                port: 5672,
                tls_port: None,
                home: home.clone(),
                dist_port: 25672,
                addr: host.addr,
                netns: Some(host.netns.clone()),
            };
            prepare(
                &home,
                // A node cut off from the majority stops serving clients: RabbitMQ's advice for a
                // cluster of three.
                "listeners.tcp.default = 5672\nloopback_users = none\n\
                 cluster_partition_handling = pause_minority\n"
                    .into(),
                &dir,
            );
            // Not the machine's rabbitmq-env.conf, which binds Erlang distribution to loopback.
            // The tick time is set when the VM starts: set later, the old one (60 s) still
            // holds while it changes over.
            std::fs::write(
                home.join("rabbitmq-env.conf"),
                "SERVER_ADDITIONAL_ERL_ARGS=\"-kernel net_ticktime 5\"\n",
            )
            .expect("the node's env file");
            launch(&node);
            cluster.nodes.push(node);
        }
        for node in &cluster.nodes {
            node.wait_for_port();
        }
        let first = cluster.nodes[0].name.clone();
        for node in &cluster.nodes[1..] {
            node.ctl(&["stop_app", "-q"]);
            node.ctl(&["join_cluster", &first, "-q"]);
            node.start_app();
        }
        cluster
    }

    /// Every node.
    pub fn nodes(&self) -> &[FaultNode] {
        &self.nodes
    }

    /// Wait (two minutes at most) until the cluster is whole: `n` nodes running, as one of
    /// them sees it, and every node taking connections, as after a partition heals or a node
    /// comes back. (A node that has just resumed from a pause can fail to answer
    /// `cluster_status` for a while, though the others see it running and it takes
    /// connections.)
    pub fn await_running(&self, n: usize) {
        assert!(
            self.whole_within(n, Duration::from_secs(120)),
            "the cluster never had {n} nodes running: {:?}",
            self.seen_running()
        );
    }

    /// [`Self::await_running`], and if the cluster is not whole after a minute, heal it as an
    /// operator would: restart the nodes that take no connections, or if all do, those that
    /// see the fewest running ([`FaultNode::restart`]). `pause_minority` heals a partition by
    /// itself once the paused side sees the majority again, but on a machine starved of CPU
    /// (2 cores running three nodes and four clients) two things have been seen after the cut
    /// was lifted: a node apart from the others for two minutes, and a paused node that the
    /// others saw running but that never took connections again. Returns the nodes
    /// restarted, for the test to report.
    pub fn heal(&self, n: usize) -> Vec<String> {
        if self.whole_within(n, Duration::from_secs(60)) {
            return Vec::new();
        }
        let seen = self.seen_running();
        let deaf: Vec<bool> = self.nodes.iter().map(|node| !node.listens()).collect();
        let fewest = seen.iter().map(|(_, k)| *k).min().unwrap_or(0);
        let stuck = |i: usize| {
            if deaf.contains(&true) {
                deaf[i]
            } else {
                seen[i].1 == fewest
            }
        };
        let mut restarted = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if stuck(i) {
                node.restart();
                restarted.push(node.name.clone());
            }
        }
        self.await_running(n);
        restarted
    }

    /// Whether the cluster is whole (see [`Self::await_running`]) within `within`.
    fn whole_within(&self, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.nodes.iter().any(|node| node.running_nodes() == n)
                && self.nodes.iter().all(FaultNode::listens)
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// How many nodes each node sees running.
    fn seen_running(&self) -> Vec<(String, usize)> {
        self.nodes
            .iter()
            .map(|node| (node.name.clone(), node.running_nodes()))
            .collect()
    }

    /// One node with a TLS listener besides the plain one, using certificates of a CA made
    /// for it ([`Self::certs`]): the server's certificate is for `localhost`, and the
    /// listener requires a client certificate signed by the same CA.
    pub fn start_tls(label: &str) -> Self {
        let (id, dir) = folder(label);
        let certs = TestCerts::generate(&dir.join("certs"));
        let node = start_node(&dir, &format!("{id}n0"), Some(&certs));
        Self {
            dir,
            nodes: vec![node],
            certs: Some(certs),
        }
    }

    /// The certificates of a cluster started by [`Self::start_tls`].
    pub fn certs(&self) -> &TestCerts {
        self.certs
            .as_ref()
            .expect("a cluster started with start_tls")
    }

    /// The `i`th node.
    pub fn node(&self, i: usize) -> &FaultNode {
        &self.nodes[i]
    }

    /// Every node's URI for `vhost`, `;`-separated: an `AMQP_URI` failover list.
    pub fn raw_failover_uri(&self, vhost: &str) -> String {
        self.nodes
            .iter()
            .map(|n| n.raw_uri(vhost))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// A cluster's id (its label and this process's id) and its fresh folder.
fn folder(label: &str) -> (String, PathBuf) {
    let id = format!("{label}{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("contracts-fault-{id}"));
    let _ = std::fs::remove_dir_all(&dir);
    (id, dir)
}

fn start_node(dir: &std::path::Path, short: &str, tls: Option<&TestCerts>) -> FaultNode {
    let home = dir.join(short);
    let port = free_port();
    let dist_port = free_port();
    let mut config = format!("listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n");
    let tls_port = tls.map(|certs| {
        let tls_port = free_port();
        config.push_str(&format!(
            "listeners.ssl.default = 127.0.0.1:{tls_port}\n\
             ssl_options.cacertfile = {}\n\
             ssl_options.certfile = {}\n\
             ssl_options.keyfile = {}\n\
             ssl_options.verify = verify_peer\n\
             ssl_options.fail_if_no_peer_cert = true\n",
            certs.ca.display(),
            certs.server_cert.display(),
            certs.server_key.display()
        ));
        tls_port
    });
    prepare(&home, config, dir);
    let node = FaultNode {
        name: format!("{short}@localhost"),
        port,
        tls_port,
        home,
        dist_port,
        addr: Ipv4Addr::LOCALHOST,
        netns: None,
    };
    launch(&node);
    node.wait_for_port();
    node
}

/// A node's folders under `home`, its `config` and no plugins, all owned by the `rabbitmq`
/// user, which the server runs as (`dir`, the cluster's folder, included).
fn prepare(home: &std::path::Path, config: String, dir: &std::path::Path) {
    for sub in ["mnesia", "log"] {
        std::fs::create_dir_all(home.join(sub)).expect("the node's folders");
    }
    std::fs::write(home.join("rabbitmq.conf"), config).expect("the node's config");
    std::fs::write(home.join("enabled_plugins"), "[].\n").expect("the node's plugins");
    let chown = Command::new("chown")
        .args(["-R", "rabbitmq:rabbitmq"])
        .arg(dir)
        .status()
        .expect("run chown");
    assert!(chown.success(), "chown {}", dir.display());
}

/// `rabbitmq-server -detached` for `node`, with its name, ports and folders.
fn launch(node: &FaultNode) {
    let home = &node.home;
    let mut server = command(node.netns.as_deref(), "rabbitmq-server");
    if node.netns.is_some() {
        server.env("RABBITMQ_CONF_ENV_FILE", home.join("rabbitmq-env.conf"));
    }
    let status = server
        .arg("-detached")
        .current_dir(std::env::temp_dir())
        .env("RABBITMQ_NODENAME", &node.name)
        .env("RABBITMQ_NODE_PORT", node.port.to_string())
        .env("RABBITMQ_DIST_PORT", node.dist_port.to_string())
        .env("RABBITMQ_CONFIG_FILE", home.join("rabbitmq"))
        .env("RABBITMQ_MNESIA_BASE", home.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", home.join("log"))
        .env(
            "RABBITMQ_ENABLED_PLUGINS_FILE",
            home.join("enabled_plugins"),
        )
        .env("RABBITMQ_PID_FILE", home.join("pid"))
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run rabbitmq-server ({e}): the fault tests start their own nodes")
        });
    assert!(
        status.success(),
        "rabbitmq-server -detached for {}",
        node.name
    );
}

impl Drop for FaultCluster {
    fn drop(&mut self) {
        for node in self.nodes.iter().rev() {
            let _ = tool(node.netns.as_deref(), "rabbitmqctl")
                .args(["-n", &node.name, "stop", "-q"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
