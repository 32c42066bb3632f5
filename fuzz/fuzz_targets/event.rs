//! Event bodies: limits, JSON, kombu's typed values, the payload schema, then the typed
//! decoding a handler gets. Nothing may panic; a refusal says why; an admitted payload passes
//! its schema again and decodes, or fails decoding with a JSON pointer.
#![no_main]

use contracts_core::Dispatch;
use contracts_core::validate::{ValidationMode, decode};
use contracts_core::wire::inbound;
use contracts_core::wire::limits::Limits;
use contracts_fuzz::Instant;
use libfuzzer_sys::fuzz_target;
use seed_contracts::{UserCreated, UserServiceServer};

fuzz_target!(|body: &[u8]| {
    let server = UserServiceServer::new(Instant);
    let source = server.compiled();
    let index = source.event_index("user_created").expect("the seed event");
    let limits = Limits {
        max_body_bytes: 4096,
        max_depth: 16,
    };
    match inbound::event(source, index, body, &limits, ValidationMode::Both) {
        Err(why) => assert!(!why.is_empty()),
        Ok(payload) => match decode::<UserCreated>(&payload) {
            // Admitted means it passes its schema.
            _ if source.event(index).payload().check(&payload).is_err() => {
                panic!("admitted but invalid: {payload}")
            }
            Ok(event) => assert!(event.user_id >= 1 && !event.name.is_empty()),
            Err(failure) => assert!(!failure.reason.is_empty()),
        },
    }
});
