//! `contracts conform` on a hand-written recording against the repository's committed
//! `schemas/`: every way a sample can fail is counted at its JSON pointer, what conforms is
//! not, services without a contract are listed and fail nothing, and the exit code says
//! whether validation could be switched on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("schemas")
}

fn recording(name: &str, files: &[(&str, Vec<Value>)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("contracts-conform-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (file, lines) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// `contracts --schemas <repo schemas> conform <args> <dir>`.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contracts"))
        .arg("--schemas")
        .arg(schemas())
        .arg("conform")
        .args(args)
        .arg(dir)
        .output()
        .expect("run contracts conform")
}

fn conform(dir: &Path) -> (i32, Value) {
    let output = run(dir, &["--format", "json"]);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code().unwrap(), report)
}

fn message<'a>(report: &'a Value, service: &str, item: &str, part: &str) -> &'a Value {
    report["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["service"] == service && m["item"] == item && m["part"] == part)
        .unwrap_or_else(|| panic!("no {service}.{item} {part} in {report:#}"))
}

fn call(args: Value, kwargs: Value, result: Value, error: Value) -> Value {
    json!({"args": args, "kwargs": kwargs, "replied": true, "result": result, "error": error})
}

fn unanswered(args: Value, kwargs: Value) -> Value {
    json!({"args": args, "kwargs": kwargs, "replied": false, "result": null, "error": null})
}

fn user(id: u64) -> Value {
    json!({"user_id": id, "name": "Ada"})
}

#[test]
fn every_sample_is_checked_as_an_enforcing_service_would() {
    let declared = json!({"exc_type": "UserAlreadyExists", "exc_path": "user_service.UserError",
                          "exc_args": ["taken"], "value": "taken",
                          "payload": {"UserAlreadyExists": {"user_id": 1}}});
    let bad_payload = json!({"exc_type": "UserAlreadyExists", "exc_path": "user_service.UserError",
                             "exc_args": ["taken"], "value": "taken",
                             "payload": {"UserAlreadyExists": {"user_id": "one"}}});
    // A Python service raising the declared variant by name, without a structured payload.
    let by_name = json!({"exc_type": "UserAlreadyExists", "exc_path": "users.UserAlreadyExists",
                         "exc_args": ["taken"], "value": "taken"});
    let undeclared = json!({"exc_type": "KeyError", "exc_path": "builtins.KeyError",
                            "exc_args": ["x"], "value": "x"});
    let dir = recording(
        "paths",
        &[
            (
                "user_service/create_user.rpc.jsonl",
                vec![
                    // Conforms, by keyword and by position.
                    call(
                        json!([]),
                        json!({"user_data": user(1)}),
                        json!({"status": "success", "user_id": 1}),
                        Value::Null,
                    ),
                    call(
                        json!([user(2)]),
                        json!({}),
                        json!({"status": "success", "user_id": 2}),
                        Value::Null,
                    ),
                    // A request breaking its schema, deep down.
                    call(
                        json!([]),
                        json!({"user_data": {"user_id": 0, "name": "Ada"}}),
                        Value::Null,
                        undeclared.clone(),
                    ),
                    // Arguments that bind to no signature: too many, unknown, missing (their
                    // IncorrectSignature replies left out: the request is what is checked).
                    unanswered(json!([user(3), 1]), json!({})),
                    unanswered(json!([]), json!({"user_data": user(4), "extra": 1})),
                    unanswered(json!([]), json!({})),
                    // Errors: declared with its payload, declared by name, a payload that
                    // breaks the error schema.
                    call(json!([user(5)]), json!({}), Value::Null, declared),
                    call(json!([user(6)]), json!({}), Value::Null, by_name),
                    call(json!([user(7)]), json!({}), Value::Null, bad_payload),
                    // A reply breaking its schema; a request never answered (no reply checked).
                    call(
                        json!([user(8)]),
                        json!({}),
                        json!({"status": "success"}),
                        Value::Null,
                    ),
                    unanswered(json!([user(9)]), json!({})),
                ],
            ),
            (
                "user_service/user_created.event.jsonl",
                vec![
                    json!({"payload": user(1)}),
                    json!({"payload": {"user_id": 1}}),
                ],
            ),
            (
                "user_service/user_renamed.event.jsonl",
                vec![json!({"payload": user(1)})],
            ),
            (
                "user_service/delete_user.rpc.jsonl",
                vec![call(json!([1]), json!({}), Value::Null, Value::Null)],
            ),
            (
                "legacy_billing/invoice.rpc.jsonl",
                vec![
                    call(json!([1]), json!({}), json!(2), Value::Null),
                    json!("no sample"),
                ],
            ),
        ],
    );
    let (code, report) = conform(&dir);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["read"], json!({"samples": 16, "unreadable": 1}));
    assert_eq!(report["not_covered"], json!({"legacy_billing": 1}));

    let request = message(&report, "user_service", "create_user", "request");
    assert_eq!(
        (request["checked"].clone(), request["failed"].clone()),
        (json!(11), json!(4)),
        "{request:#}"
    );
    let pointers = request["pointers"].as_array().unwrap();
    assert_eq!(pointers[0]["pointer"], "", "{request:#}");
    assert_eq!(pointers[0]["count"], 3, "{request:#}");
    assert!(
        pointers[0]["reason"]
            .as_str()
            .unwrap()
            .contains("takes 1 positional argument but 2 were given"),
        "{request:#}"
    );
    assert_eq!(pointers[1]["pointer"], "/user_data/user_id", "{request:#}");
    assert_eq!(pointers[1]["count"], 1);

    let error = message(&report, "user_service", "create_user", "error");
    assert_eq!(
        (error["checked"].clone(), error["failed"].clone()),
        (json!(4), json!(2)),
        "{error:#}"
    );
    let reasons: Vec<(&str, &str)> = error["pointers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["pointer"].as_str().unwrap(),
                p["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        reasons[0].0.is_empty() && reasons[0].1.contains("`KeyError` is not a declared error"),
        "{reasons:?}"
    );
    // The payload breaking the error schema fails there too: its `oneOf` is at the root.
    assert_eq!(error["pointers"][0]["count"], 2, "{error:#}");

    let reply = message(&report, "user_service", "create_user", "reply");
    assert_eq!(
        (reply["checked"].clone(), reply["failed"].clone()),
        (json!(3), json!(1)),
        "{reply:#}"
    );

    let event = message(&report, "user_service", "user_created", "event");
    assert_eq!(
        (event["checked"].clone(), event["failed"].clone()),
        (json!(2), json!(1)),
        "{event:#}"
    );
    let unknown_event = message(&report, "user_service", "user_renamed", "event");
    assert!(
        unknown_event["pointers"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("declares no event")
    );
    let unknown_method = message(&report, "user_service", "delete_user", "request");
    assert!(
        unknown_method["pointers"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("has no method")
    );

    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_clean_recording_exits_zero_and_the_table_says_so() {
    let dir = recording(
        "clean",
        &[(
            "user_service/create_user.rpc.jsonl",
            vec![call(
                json!([]),
                json!({"user_data": user(1)}),
                json!({"status": "success", "user_id": 1}),
                Value::Null,
            )],
        )],
    );
    let (code, report) = conform(&dir);
    assert_eq!(code, 0, "{report:#}");
    let table = run(&dir, &[]);
    assert_eq!(table.status.code(), Some(0));
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.starts_with("1 sample(s) checked, 0 would be refused"),
        "{table}"
    );
    assert!(
        table.contains("user_service.create_user request: 1 checked, 0 failed (ok)"),
        "{table}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_with_no_recording_is_a_usage_error() {
    let dir = recording("empty", &[]);
    std::fs::create_dir_all(&dir).unwrap();
    let output = run(&dir, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no samples in"),
        "{output:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
