//! Request bodies: the content type, limits, envelope (kombu's typed values included),
//! argument binding, the request schema, then the typed decoding of the generated server.
//! Nothing may panic; every refusal must be a Nameko error dict a caller can read; whatever is
//! admitted passes its schema again and reaches the handler or a clear decoding error.
#![no_main]

use contracts_core::Dispatch;
use contracts_core::transport::Message;
use contracts_core::validate::ValidationMode;
use contracts_core::wire::inbound;
use contracts_core::wire::limits::Limits;
use contracts_core::wire::topology::json_properties;
use contracts_fuzz::{FuzzedServer, Instant, assert_replyable, now};
use libfuzzer_sys::fuzz_target;
use seed_contracts::{MyServiceServer, UserServiceServer};

/// (server, method) pairs the first byte picks from; `nope` is not a method.
const METHODS: [(usize, &str); 8] = [
    (0, "add"),
    (0, "register"),
    (0, "mix"),
    (0, "ping"),
    (1, "hello"),
    (2, "create_user"),
    (2, "nope"),
    (0, "register"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let servers: [&dyn Dispatch; 3] = [
        &FuzzedServer::new(Instant),
        &MyServiceServer::new(Instant),
        &UserServiceServer::new(Instant),
    ];
    let (server, method) = METHODS[usize::from(pick) % METHODS.len()];
    let server = servers[server];
    let mut properties = json_properties();
    // One input in 32 comes without its content type, or with another.
    match pick >> 3 {
        0 => properties.content_type = None,
        1 => properties.content_type = Some("application/x-python-serialize".into()),
        _ => {}
    }
    let message = Message {
        properties,
        body: body.to_vec(),
    };
    let limits = Limits {
        max_body_bytes: 4096,
        max_depth: 16,
    };
    match inbound::request(
        server.compiled(),
        method,
        &message,
        &limits,
        ValidationMode::Both,
    ) {
        Err(error) => assert_replyable(&error),
        Ok((spec, bound)) => {
            assert!(
                bound.check(spec.request()).is_ok(),
                "admitted: it passes its schema"
            );
            match now(server.dispatch(method, bound)) {
                Ok(reply) => {
                    let reply: serde_json::Value =
                        serde_json::from_str(reply.get()).expect("a reply is JSON");
                    assert!(spec.reply().check(&reply).is_ok(), "{reply}");
                }
                Err(error) => assert_replyable(&error),
            }
        }
    }
});
