//! A call whose future is dropped before its reply (a cancelled request, a `select!` that went
//! the other way) leaves nothing behind: a million of them leave the client's pending-reply map
//! empty and the process's memory flat.

use contracts_core::transport::{Consumer, Transport};
use contracts_core::{MemoryBroker, RpcClient, wire::topology};

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Start `n` calls, each dropped once its request is out; the request is taken off the queue
/// so that nothing else grows.
async fn cancel_calls(rpc: &RpcClient, requests: &mut Consumer, n: usize) {
    for _ in 0..n {
        let call = rpc.call("sink", "wait", Vec::new(), Default::default());
        tokio::select! {
            biased;
            _ = call => panic!("nobody replies"),
            // Ready at once: the call above was polled once (its request published, its
            // entry made) and is dropped here.
            () = std::future::ready(()) => {}
        }
        let request = requests.next().await.expect("the request");
        request.acker.ack().await.unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_million_dropped_calls_leave_no_pending_entry_and_flat_memory() {
    let broker = MemoryBroker::shared();
    // The client declares the RPC exchange the stand-in queue is bound to.
    let rpc = RpcClient::connect(broker.clone(), "impatient")
        .await
        .unwrap();
    let queue = topology::rpc_queue("sink", topology::QueueType::Classic);
    broker.declare_queue(&queue).await.unwrap();
    broker
        .bind(
            &queue.name,
            topology::RPC_EXCHANGE,
            &topology::rpc_binding("sink"),
        )
        .await
        .unwrap();
    let mut requests = broker.consume(&queue.name, 0).await.unwrap();

    // Warm up allocator pools and maps before the baseline.
    cancel_calls(&rpc, &mut requests, 100_000).await;
    assert_eq!(rpc.pending_calls(), 0);
    let before = rss_kib();
    cancel_calls(&rpc, &mut requests, 900_000).await;
    assert_eq!(
        rpc.pending_calls(),
        0,
        "every dropped call removed its entry"
    );
    let grown = rss_kib().saturating_sub(before);
    // A leaked entry (its correlation id and reply sender) is over 100 bytes: 900,000 of them
    // would be 90 MB. Allow for allocator noise, nothing like that.
    assert!(
        grown < 16 * 1024,
        "memory grew by {grown} KiB over 900,000 dropped calls"
    );
}
