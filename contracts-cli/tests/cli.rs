//! The `contracts` binary end to end: exit codes, the repository's fixtures, and `check`
//! against a directory and against a git revision.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn contracts(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args(args)
        .output()
        .expect("run contracts")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("contracts-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

#[test]
fn fixtures_good_pass_and_bad_fail_with_their_pointers() {
    let schemas = workspace().join("schemas");
    let fixtures = workspace().join("fixtures");
    let mut checked = 0;
    for message_dir in std::fs::read_dir(&fixtures).unwrap().filter_map(Result::ok) {
        if !message_dir.path().is_dir() {
            continue;
        }
        let message = message_dir.file_name().into_string().unwrap();
        for verdict in ["good", "bad"] {
            let dir = message_dir.path().join(verdict);
            let Ok(files) = std::fs::read_dir(&dir) else {
                continue;
            };
            for file in files.filter_map(Result::ok).map(|f| f.path()) {
                if file.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let out = contracts(&[
                    "--schemas",
                    schemas.to_str().unwrap(),
                    "validate",
                    &message,
                    file.to_str().unwrap(),
                    "--format",
                    "json",
                ]);
                let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                    panic!(
                        "{}: {e}: {}",
                        file.display(),
                        String::from_utf8_lossy(&out.stderr)
                    )
                });
                if verdict == "good" {
                    assert_eq!(code(&out), 0, "{}: {report}", file.display());
                } else {
                    assert_eq!(code(&out), 1, "{}: {report}", file.display());
                    let mut pointers: Vec<String> = report[0]["errors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["pointer"].as_str().unwrap().to_owned())
                        .collect();
                    pointers.sort();
                    let expected =
                        std::fs::read_to_string(file.with_extension("expected")).unwrap();
                    let mut expected: Vec<String> = expected.lines().map(str::to_owned).collect();
                    expected.sort();
                    assert_eq!(pointers, expected, "{}", file.display());
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 7, "only {checked} fixtures found");
}

#[test]
fn check_against_a_directory_classifies_and_sets_the_exit_code() {
    let dir = scratch("dir");
    let (old, new) = (dir.join("old"), dir.join("new"));
    copy_dir(&workspace().join("schemas"), &old);
    copy_dir(&old, &new);
    let run = |format: &str| {
        contracts(&[
            "--schemas",
            new.to_str().unwrap(),
            "check",
            "--against",
            old.to_str().unwrap(),
            "--format",
            format,
        ])
    };
    let same = run("table");
    assert_eq!(code(&same), 0, "{}", String::from_utf8_lossy(&same.stdout));

    // A non-breaking change: the reply may now carry an optional field.
    edit_json(&new.join("user_service/create_user.reply.json"), |s| {
        s["properties"]["note"] = serde_json::json!({"type": "string"});
    });
    let fine = run("json");
    assert_eq!(code(&fine), 0, "{}", String::from_utf8_lossy(&fine.stdout));
    let report: Value = serde_json::from_slice(&fine.stdout).unwrap();
    assert_eq!(report["breaking"], 0);
    assert_eq!(report["changes"][0]["what"], "property added");

    // Breaking: a tighter request bound, and a removed event.
    edit_json(&new.join("user_service/create_user.request.json"), |s| {
        s["$defs"]["UserData"]["properties"]["name"]["maxLength"] = serde_json::json!(10);
    });
    edit_json(&new.join("user_service/service.json"), |s| {
        s["events"] = serde_json::json!([]);
    });
    let broken = run("json");
    assert_eq!(code(&broken), 1);
    let report: Value = serde_json::from_slice(&broken.stdout).unwrap();
    assert_eq!(report["breaking"], 2, "{report}");
    let changes = report["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["item"] == "user_service.create_user"
                && c["message"] == "request"
                && c["at"] == "/user_data/name"
                && c["breaking"] == true),
        "{report}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c["item"] == "user_service.user_created" && c["what"] == "event removed"),
        "{report}"
    );
    let table = String::from_utf8_lossy(&run("table").stdout).into_owned();
    assert!(
        table.contains("BREAKING  user_service.create_user request"),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_and_codegen_read_a_git_revision() {
    let repo = scratch("git");
    copy_dir(&workspace().join("schemas"), &repo.join("schemas"));
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "baseline"]);
    std::fs::remove_dir_all(repo.join("schemas/another_service")).unwrap();
    let schemas = repo.join("schemas");
    let out = contracts(&[
        "--schemas",
        schemas.to_str().unwrap(),
        "check",
        "--against",
        "HEAD",
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        code(&out),
        1,
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("another_service contract") && table.contains("service removed"),
        "{table}"
    );
    // The Python package of a revision: the one committed still has another_service.
    for (revision, has_it) in [(None, false), (Some("HEAD"), true)] {
        let out_dir = repo.join(format!("python-{}", revision.unwrap_or("tree")));
        let mut args = vec![
            "--schemas",
            schemas.to_str().unwrap(),
            "codegen",
            "python",
            "--out",
            out_dir.to_str().unwrap(),
            "--package",
            "pkg",
        ];
        args.extend(revision.iter().flat_map(|r| ["--revision", *r]));
        let out = contracts(&args);
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            out_dir.join("pkg/another_service.py").is_file(),
            has_it,
            "{revision:?}"
        );
        assert!(out_dir.join("pkg/user_service.py").is_file());
    }
    let _ = std::fs::remove_dir_all(&repo);
}

#[test]
fn usage_and_io_errors_exit_2() {
    let schemas = workspace().join("schemas");
    let schemas = schemas.to_str().unwrap();
    for args in [
        vec![
            "--schemas",
            schemas,
            "validate",
            "no_such_service.method",
            "x.json",
        ],
        vec![
            "--schemas",
            schemas,
            "validate",
            "user_service.create_user",
            "/no/such/file.json",
        ],
        vec!["--schemas", "/no/such/dir", "check", "--against", "HEAD"],
        vec![
            "--schemas",
            schemas,
            "check",
            "--against",
            "no-such-revision-or-dir",
        ],
        vec!["frobnicate"],
    ] {
        let out = contracts(&args);
        assert_eq!(
            code(&out),
            2,
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}

#[test]
fn help_shows_examples_for_every_command() {
    for command in [
        "check",
        "validate",
        "docs",
        "call",
        "dispatch",
        "dead-letters",
        "completions",
        "man",
    ] {
        let out = contracts(&[command, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("Examples:") && help.contains(&format!("contracts {command}")),
            "{help}"
        );
        assert!(help.contains("Exit codes"), "{help}");
    }
}

/// The committed `docs/` match what `contracts docs` writes from the committed schemas;
/// `CONTRACTS_BLESS=1` rewrites them. (`.ci/run` validates them with the AsyncAPI CLI and
/// renders the page in headless Chromium.)
#[test]
fn committed_docs_match_the_schemas() {
    let out = scratch("docs");
    let schemas = workspace().join("schemas");
    let run = contracts(&[
        "--schemas",
        schemas.to_str().unwrap(),
        "docs",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&run), 0, "{}", String::from_utf8_lossy(&run.stderr));
    let committed = workspace().join("docs");
    let bless = contracts_core::contract::schema_files::blessing();
    for file in ["asyncapi.json", "openapi.json", "catalog.html"] {
        let fresh = std::fs::read_to_string(out.join(file)).unwrap();
        if bless {
            std::fs::write(committed.join(file), &fresh).unwrap();
            continue;
        }
        let old = std::fs::read_to_string(committed.join(file)).unwrap_or_default();
        assert!(
            old == fresh,
            "docs/{file} is out of date: run `cargo run -p contracts-cli -- docs` \
             (or CONTRACTS_BLESS=1 cargo test -p contracts-cli --test cli)"
        );
    }
    let asyncapi: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("asyncapi.json")).unwrap()).unwrap();
    assert_eq!(asyncapi["asyncapi"], "3.0.0");
    assert_eq!(
        asyncapi["channels"]["rpc_user_service_create_user"]["address"],
        "user_service.create_user"
    );
    assert_eq!(
        asyncapi["channels"]["event_user_service_user_created"]["bindings"]["amqp"]["exchange"]["name"],
        "user_service.events"
    );
    assert!(asyncapi["operations"]["notification_service_on_user_created"].is_object());
    // The gateway's document: a POST per method, checked by openapi-spec-validator.
    let openapi: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("openapi.json")).unwrap()).unwrap();
    assert_eq!(openapi["openapi"], "3.1.0");
    let create = &openapi["paths"]["/user_service/create_user"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["properties"]["user_data"]["$ref"],
        "#/components/schemas/user_service_UserData"
    );
    let validated = std::process::Command::new(contracts_testkit::nameko::NAMEKO2.python())
        .args(["-m", "openapi_spec_validator"])
        .arg(out.join("openapi.json"))
        .output()
        .expect("python runs");
    assert!(
        validated.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );
    let html = std::fs::read_to_string(out.join("catalog.html")).unwrap();
    for service in [
        "my_service",
        "user_service",
        "another_service",
        "my_client_service",
        "notification_service",
    ] {
        assert!(
            html.contains(&format!("id=\"service-{service}\"")),
            "{service}"
        );
        assert!(
            html.contains(&format!("data-service=\"{service}\"")),
            "{service} in the diagram"
        );
    }
    // No network: nothing is fetched from anywhere (URLs in schema text are just text).
    for fetch in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(fetch), "the page fetches {fetch}");
    }
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "self-contained"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn validate_reads_standard_input() {
    use std::io::Write;
    let schemas = workspace().join("schemas");
    let mut child = Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args([
            "--schemas",
            schemas.to_str().unwrap(),
            "validate",
            "user_service.user_created",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"user_id": 0, "name": "x"}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 1, "{text}");
    assert!(
        text.contains("-: invalid user_service.user_created event"),
        "{text}"
    );
    assert!(
        text.contains("/user_id: 0 is less than the minimum of 1"),
        "{text}"
    );
}

/// `contracts --version` names the tool and the version it was built as (issue 25, item 4).
#[test]
fn version_names_the_tool_and_its_version() {
    let output = contracts(&["--version"]);
    assert_eq!(code(&output), 0);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        format!("contracts {}", env!("CARGO_PKG_VERSION"))
    );
}

/// The bash script completes what the parser knows: sourced in a real bash, its function
/// offers `check` for `contracts ch` and the flags of `check` after it.
#[test]
fn completions_complete_commands_and_flags_in_bash() {
    let output = contracts(&["completions", "bash"]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = scratch("completions");
    let script = dir.join("contracts.bash");
    std::fs::write(&script, &output.stdout).unwrap();
    let complete = |words: &str| {
        let line = format!(
            "source {script}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
             _contracts contracts \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script = script.display()
        );
        let out = Command::new("bash")
            .args(["-c", &line])
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let commands = complete("contracts ch");
    assert_eq!(
        commands.lines().collect::<Vec<_>>(),
        ["check"],
        "{commands}"
    );
    let flags = complete("contracts check --");
    assert!(flags.lines().any(|flag| flag == "--against"), "{flags}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let output = contracts(&["completions", shell]);
        assert_eq!(code(&output), 0);
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains("dead-letters"), "{shell}: {script}");
    }
    assert_eq!(code(&contracts(&["completions", "tcsh"])), 2);
}

/// One page per command, each one groff renders without a warning.
#[test]
fn man_pages_render_for_every_command() {
    let dir = scratch("man");
    let output = contracts(&["man", "--out", dir.to_str().unwrap()]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for page in [
        "contracts",
        "contracts-check",
        "contracts-validate",
        "contracts-docs",
        "contracts-codegen",
        "contracts-codegen-python",
        "contracts-call",
        "contracts-dead-letters",
        "contracts-dispatch",
        "contracts-record",
        "contracts-infer",
        "contracts-conform",
        "contracts-completions",
        "contracts-man",
    ] {
        let path = dir.join(format!("{page}.1"));
        assert!(path.is_file(), "no {}", path.display());
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-P-cbou", "-ww"])
            .arg(&path)
            .output()
            .expect("groff renders man pages (Debian's groff-base)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{page}: {stderr}"
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("NAME") && text.contains(page),
            "{page}: {text}"
        );
    }
}
