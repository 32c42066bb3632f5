//! A three-node RabbitMQ cluster on hosts of the test's own (network namespaces and veth
//! pairs, `contracts_testkit::TestHosts`), with the service and its client each a process on
//! a host of its own: the ground the partition, blackhole and crash scenarios stand on
//! (book/src/fault-suite.md). Needs root, iproute2 and nftables; `scripts/test` provides them.

mod lab;

use contracts_amqp::Config;
use contracts_core::RpcClient;
use contracts_testkit::{FaultCluster, TestHosts, TestProcess};
use lab::LabClient;
use serde_json::Value;

/// Set in a child process: the part it plays.
const ROLE: &str = "CONTRACTS_HOSTS_ROLE";
const TEST: &str = "a_service_and_its_client_on_hosts_of_their_own_over_a_quorum_cluster";
const CALLS: i64 = 20;

/// The children: `service` serves `lab` as its config says until killed; `client` makes
/// `CALLS` calls and prints how many succeeded.
async fn child(role: &str) {
    let config = Config::from_env().expect("the child's config");
    let transport = config.connect().await.expect("the child connects");
    match role {
        "service" => {
            let _running = lab::serve(&transport).await;
            println!("SERVING");
            std::future::pending::<()>().await;
        }
        "client" => {
            let rpc = RpcClient::connect(transport.clone(), "hosts_client")
                .await
                .unwrap();
            let client = LabClient::new(rpc);
            let mut ok = 0;
            for n in 0..CALLS {
                if matches!(client.add(n, Some(1)).await, Ok(sum) if sum == n + 1) {
                    ok += 1;
                }
            }
            println!("CALLED {ok} ok");
        }
        other => panic!("no role {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_and_its_client_on_hosts_of_their_own_over_a_quorum_cluster() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let netns_before = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let hosts = TestHosts::create(&["n0", "n1", "n2", "svc", "cli"]);
    let nodes: Vec<_> = ["n0", "n1", "n2"].map(|n| hosts.host(n)).into();
    let cluster = FaultCluster::start_on("hosts", &nodes);
    let running = cluster
        .node(0)
        .ctl(&["cluster_status", "--formatter", "json", "-q"]);
    let status: Value = serde_json::from_str(&running).expect("cluster_status");
    assert_eq!(
        status["running_nodes"].as_array().map(Vec::len),
        Some(3),
        "{status}"
    );
    let uri = cluster.raw_failover_uri("/");
    let env = |role| {
        [
            (ROLE, role),
            ("AMQP_URI", uri.as_str()),
            ("QUEUE_TYPE", "quorum"),
        ]
    };
    let mut service = TestProcess::start_on(hosts.host("svc"), TEST, &env("service"));
    service.expect_line("SERVING").await;
    let mut client = TestProcess::start_on(hosts.host("cli"), TEST, &env("client"));
    let called = client.expect_line("CALLED").await;
    assert!(called.contains(&format!("CALLED {CALLS} ok")), "{called}");
    assert_eq!(client.exit_code().await, Some(0));

    // The service's queue is a quorum queue with a member on every node.
    let mut members = cluster.node(0).quorum_members("rpc-lab");
    members.sort();
    assert_eq!(members, ["rabbit@n0", "rabbit@n1", "rabbit@n2"]);

    // A cut between two hosts is silent and total, and heals.
    let (svc, n0) = (hosts.host("svc"), hosts.host("n0"));
    assert!(svc.can_connect(n0.addr, 5672));
    svc.drop_traffic_with(&[n0]);
    assert!(!svc.can_connect(n0.addr, 5672), "the cut holds");
    assert!(
        svc.can_connect(hosts.host("n1").addr, 5672),
        "only that path"
    );
    svc.restore_traffic();
    assert!(svc.can_connect(n0.addr, 5672), "healed");

    // A node that stays deaf (its application down, as a node stuck in its pause after a
    // partition was) is restarted by `heal`, as an operator would, and rejoins.
    cluster.node(2).stop_app();
    assert_eq!(cluster.heal(3), ["rabbit@n2"]);
    assert_eq!(cluster.node(2).running_nodes(), 3, "n2 rejoined");
    assert!(svc.can_connect(hosts.host("n2").addr, 5672));

    drop(service);
    drop(cluster);
    drop(hosts);
    let netns_after = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let ours = |listing: &str| {
        listing
            .lines()
            .filter(|l| l.starts_with(&format!("ctk{}-", std::process::id())))
            .count()
    };
    assert_eq!(ours(&netns_before), 0);
    assert_eq!(
        ours(&netns_after),
        0,
        "every namespace removed: {netns_after}"
    );
}
