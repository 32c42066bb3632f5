//! Faults a production cluster meets, on hosts of the test's own: a silent blackhole between
//! a process and its node, a node partitioned from the other two, a node's Erlang VM killed
//! and a node stopped, a lossy link, a rolling restart. Each is made under continuous
//! calls and event publishing, on quorum queues, and checked against the ledgers (the
//! `cluster` module; book/src/fault-suite.md reports the figures).

mod cluster;

use cluster::{HEARTBEAT, Link, NODES, ROLE, Scenario};

/// Run a test's child role if this process is one; `true` when it was.
async fn child() -> bool {
    match std::env::var(ROLE) {
        Ok(role) => {
            cluster::child(&role).await;
            true
        }
        Err(_) => false,
    }
}

/// Every packet between a process and its node dropped, both ways, nothing closed: the
/// connection looks open and only heartbeats tell. First the service's, then the client's
/// (a process that only calls and publishes). Each must notice within about two heartbeat
/// intervals, fail over to another node and be served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_blackhole_is_detected_by_heartbeats_and_recovered() {
    if child().await {
        return;
    }
    let mut s = Scenario::start(
        "a_silent_blackhole_is_detected_by_heartbeats_and_recovered",
        "blackhole",
    )
    .await;
    let mut detections = Vec::new();
    // Nameko's twin of each (the anchor service, the Nameko client) is cut off alike.
    for (role, host, twin) in [("service", "svc", "nks"), ("client", "cli", "nkc")] {
        for host in [host, twin] {
            s.host(host).drop_traffic_with(&[s.host("n0")]);
        }
        let cut = s.fault(&format!("{role} ↔ its node"));
        let process = if role == "service" {
            &mut s.service
        } else {
            &mut s.client
        };
        process.expect_line(&format!("{role} lost")).await;
        process.expect_line(&format!("{role} up")).await;
        s.calls_served_after(cut, 5, "calls after the cut").await;
        s.nameko_side_served_after(cut).await;
        let lost = s
            .marks(role, "lost")
            .into_iter()
            .find(|t| *t > cut)
            .unwrap();
        let up = s.marks(role, "up").into_iter().find(|t| *t > lost).unwrap();
        println!(
            "blackhole {role} ↔ its node: detected after {:.2} s (heartbeat {HEARTBEAT} s), \
             reconnected after {:.2} s",
            lost - cut,
            up - cut
        );
        detections.push((role, lost - cut));
        for host in [host, twin] {
            s.host(host).restore_traffic();
        }
    }
    let outcome = s.finish().await;
    outcome.check("blackhole", 30.0);
    for (role, detected) in detections {
        // Two heartbeat intervals, and a third for a slower machine.
        assert!(
            detected <= 3.0 * HEARTBEAT as f64 + 1.0,
            "{role}: detected after {detected:.2} s"
        );
    }
}

/// A node partitioned from the other two, both directions, then healed: first the node the
/// service is connected to, then the node that leads the service's queue. The nodes run with
/// `cluster_partition_handling = pause_minority`, so the cut-off node stops serving clients,
/// which fail over to the majority.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_node_is_left_and_the_cluster_heals() {
    if child().await {
        return;
    }
    let mut s = Scenario::start(
        "a_partitioned_node_is_left_and_the_cluster_heals",
        "partition",
    )
    .await;
    for target in ["the service's node", "the leader of rpc-ledgered"] {
        let node = if target == "the service's node" {
            "n0".to_owned()
        } else {
            NODES[s.leader()].to_owned()
        };
        let others: Vec<_> = NODES
            .iter()
            .filter(|n| **n != node)
            .map(|n| s.host(n))
            .collect();
        s.host(&node).drop_traffic_with(&others);
        let cut = s.fault(&format!("partition of {target} ({node})"));
        s.calls_served_after(cut, 5, "calls served during the partition")
            .await;
        s.nameko_side_served_after(cut).await;
        s.host(&node).restore_traffic();
        s.whole_again().await;
    }
    s.finish().await.check("partition", 60.0);
}

/// The Erlang VM of a node killed outright (`kill -9`: sockets reset, nothing flushed), then
/// started again on its data: first the service's node, then the leader of the service's
/// queue; then the service's node stopped whole (`rabbitmqctl stop`) and started afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_stopped_nodes_are_left_and_rejoin() {
    if child().await {
        return;
    }
    let mut s = Scenario::start("killed_and_stopped_nodes_are_left_and_rejoin", "killnode").await;
    for target in [
        "kill -9 of the service's node",
        "kill -9 of the queue leader",
        "stop of the service's node",
    ] {
        let node = match target {
            "kill -9 of the queue leader" => s.leader(),
            _ => 0,
        };
        if target.starts_with("kill") {
            s.cluster.node(node).kill();
        } else {
            s.cluster.node(node).stop();
        }
        // From when the node is gone.
        let at = s.fault(&format!("{target} (n{node})"));
        s.calls_served_after(at, 5, "calls served without the node")
            .await;
        s.nameko_side_served_after(at).await;
        s.cluster.node(node).start();
        s.whole_again().await;
    }
    s.finish().await.check("killed nodes", 60.0);
}

/// The clients (Rust and Nameko) reach the nodes through a forwarder that adds 100 ms ± 50 ms
/// each way (`LATENCY`), and then lose 2% of their packets, both ways, at random: TCP
/// retransmits, and every call still succeeds within its deadline, each answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_lossy_link_delays_calls_but_fails_none() {
    if child().await {
        return;
    }
    let mut s = Scenario::start_with(
        "a_slow_lossy_link_delays_calls_but_fails_none",
        "loss",
        Link::Delayed,
    )
    .await;
    let clients = ["cli", "nkc"];
    for client in clients {
        s.host(client).lose_packets(2);
    }
    let from = s.fault("100 ms ± 50 ms and 2% loss on the clients' links");
    s.calls_served_after(from, 50, "calls over the slow lossy link")
        .await;
    for client in clients {
        s.host(client).lose_packets(0);
    }
    let outcome = s.finish().await;
    outcome.check("latency and loss", 30.0);
    outcome.all_calls_succeeded_once();
}

/// A rolling restart: each node stopped whole and started again in turn, waiting for the
/// cluster to have all three running before the next, under continuous calls and publishing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_the_cluster_is_ridden_out() {
    if child().await {
        return;
    }
    let mut s = Scenario::start("a_rolling_restart_of_the_cluster_is_ridden_out", "rolling").await;
    for node in 0..NODES.len() {
        s.cluster.node(node).stop();
        let at = s.fault(&format!("restart of n{node}"));
        s.cluster.node(node).start();
        s.cluster.await_running(3);
        s.calls_served_after(at, 5, "calls served after the restart")
            .await;
        s.nameko_side_served_after(at).await;
    }
    s.finish().await.check("rolling restart", 60.0);
}
