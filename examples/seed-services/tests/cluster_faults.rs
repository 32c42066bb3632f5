//! Faults a production cluster meets, on hosts of the test's own: a silent blackhole between
//! a process and its node, a node partitioned from the other two, a node's Erlang VM killed
//! and a node stopped, a lossy and slow link, a rolling restart. Each is made under continuous
//! calls and event publishing, on quorum queues, and checked against the ledgers (the
//! `cluster` module; docs/fault-suite.md reports the figures).

mod cluster;

use cluster::{HEARTBEAT, NODES, ROLE, Scenario, now};

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
    for (role, host, node) in [("service", "svc", "n0"), ("client", "cli", "n1")] {
        s.host(host).drop_traffic_with(&[s.host(node)]);
        let cut = s.fault(&format!("{role} ↔ its node"));
        let process = if role == "service" {
            &mut s.service
        } else {
            &mut s.client
        };
        process.expect_line(&format!("{role} lost")).await;
        process.expect_line(&format!("{role} up")).await;
        s.calls_served_after(cut, 5, "calls after the cut").await;
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
        s.host(host).restore_traffic();
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
            let leader = s.cluster.node(1).quorum_leader("rpc-ledgered");
            leader.trim_start_matches("rabbit@").to_owned()
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
        s.host(&node).restore_traffic();
        let healed = now();
        s.cluster.await_running(3);
        s.calls_served_after(healed, 5, "calls served after the heal")
            .await;
    }
    s.finish().await.check("partition", 60.0);
}
