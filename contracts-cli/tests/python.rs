//! Non-Rust consumers of the schema files: Python's `jsonschema` loads every one and agrees
//! with the fixtures' verdicts, `datamodel-code-generator` turns them into Pydantic models,
//! and a Python Nameko client using those models calls the Rust `user_service`.

use std::path::{Path, PathBuf};

use contracts_core::ServiceRunner;
use contracts_testkit::TestVhost;
use contracts_testkit::nameko::run_client;
use serde_json::json;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_validates_generates_pydantic_models_and_calls_a_rust_service() {
    let vhost = TestVhost::create("pydantic");
    let seed = seed_services::start(ServiceRunner::new(vhost.connect().await))
        .await
        .expect("seed services");
    let out = std::env::temp_dir().join(format!("contracts-pydantic-{}", std::process::id()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/pydantic_client.py");
    let (schemas, fixtures) = (workspace().join("schemas"), workspace().join("fixtures"));
    let results = run_client(
        &vhost,
        &script,
        &[
            schemas.to_str().unwrap(),
            fixtures.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    )
    .await;

    let message_files = std::fs::read_dir(&schemas)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .flat_map(|dir| {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(Result::ok)
        })
        .filter(|f| f.file_name() != "service.json")
        .count();
    assert_eq!(results["schemas_checked"], json!(message_files));
    // Python's validator also accepts every manifest against service.schema.json.
    let manifests = results["manifest_errors"]
        .as_object()
        .expect("manifests checked");
    assert_eq!(manifests.len(), 5, "{manifests:?}");
    for (path, errors) in manifests {
        assert_eq!(errors, &json!([]), "{path}");
    }
    let verdicts = results["fixtures"].as_object().expect("fixture verdicts");
    assert!(verdicts.len() >= 7, "{verdicts:?}");
    for (fixture, valid) in verdicts {
        assert_eq!(valid, &json!(fixture.contains("/good/")), "{fixture}");
    }
    assert_eq!(results["pydantic_rejects_user_id_0"], json!(true));
    assert_eq!(results["reply_type"], "Created");
    assert_eq!(
        results["reply"],
        json!({"status": "success", "user_id": 11})
    );
    guarded_welcome(&seed).await;
    seed.running.stop().await;
    let _ = std::fs::remove_dir_all(&out);
}

/// The call went through the real service: its event reached the welcome handler.
async fn guarded_welcome(seed: &seed_services::SeedServices) {
    contracts_testkit::guarded("welcome", seed.welcomes.wait_for(1)).await;
    assert_eq!(seed.welcomes.all()[0].user_id, 11);
}
