//! `contracts codegen python`: the committed package for the seed contracts is what the
//! schemas generate, it installs with pip, and its models agree with the payload fixtures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use contracts_cli::catalog::Catalog;
use contracts_testkit::nameko::{NAMEKO2, PYCONTRACTS};
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn committed() -> PathBuf {
    workspace().join("examples/seed-contracts/python")
}

/// Every file under `dir`, relative to it, caches (`__pycache__`, `.mypy_cache`, …) aside.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let name = path.file_name().unwrap().to_string_lossy();
                if name != "__pycache__" && !name.starts_with('.') {
                    pending.push(path);
                }
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_owned());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn the_committed_package_is_what_the_schemas_generate() {
    let catalog = Catalog::load(&workspace().join("schemas")).unwrap();
    let generated = contracts_cli::python::package(&catalog, "seed_contracts");
    let names: Vec<PathBuf> = generated.keys().cloned().collect();
    assert_eq!(
        files(&committed()),
        names,
        "regenerate: cargo run -p contracts-cli -- codegen python --out examples/seed-contracts/python --package seed_contracts"
    );
    for (path, text) in generated {
        let on_disk = std::fs::read_to_string(committed().join(&path)).unwrap();
        assert_eq!(
            on_disk,
            text,
            "{} is stale; regenerate: cargo run -p contracts-cli -- codegen python --out examples/seed-contracts/python --package seed_contracts",
            path.display()
        );
    }
}

/// A fresh scratch folder `contracts-<name>-<pid>` holding a copy of the committed package in
/// `source/`: pip and build write into the tree they build, and the committed one must stay
/// as generated.
fn committed_copy(name: &str) -> (PathBuf, PathBuf) {
    let scratch = std::env::temp_dir().join(format!("contracts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let source = scratch.join("source");
    for file in files(&committed()) {
        let to = source.join(&file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(committed().join(&file), to).unwrap();
    }
    (scratch, source)
}

/// The package builds as a wheel and an sdist that pass `twine check --strict`, and the wheel
/// installs and works in an environment where PyContracts owns the `contracts` module.
#[test]
fn the_package_builds_passes_twine_and_installs_beside_pycontracts() {
    let build = NAMEKO2.python();
    let (scratch, source) = committed_copy("pydist");
    let dist = scratch.join("dist");
    let run = |command: &mut Command, what: &str| {
        let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            out.status.success(),
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // --no-isolation: the build backend comes from the venv (pinned), not a download per run.
    run(
        Command::new(&build)
            .args([
                "-m",
                "build",
                "--no-isolation",
                "--sdist",
                "--wheel",
                "--outdir",
            ])
            .arg(&dist)
            .arg(&source),
        "python -m build",
    );
    let mut built: Vec<PathBuf> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    built.sort();
    let names: Vec<String> = built
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "seed_contracts-0.1.0-py3-none-any.whl",
            "seed_contracts-0.1.0.tar.gz"
        ]
    );
    let checked = run(
        Command::new(build.with_file_name("twine"))
            .args(["check", "--strict"])
            .args(&built),
        "twine check --strict",
    );
    assert_eq!(checked.matches("PASSED").count(), 2, "{checked}");

    let python = PYCONTRACTS.python();
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--force-reinstall",
                "--no-deps",
            ])
            .arg(&built[0]),
        "pip install of the wheel",
    );
    run(
        Command::new(&python).args(["-m", "pip", "check"]),
        "pip check",
    );
    let out = run(
        Command::new(&python)
            .arg(sample("beside_pycontracts.py"))
            .arg(concat!("contracts ", env!("CARGO_PKG_VERSION")))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONWARNINGS", "ignore")
            .current_dir(&scratch),
        "the package beside PyContracts",
    );
    assert_eq!(out.trim(), "ok");
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn the_package_installs_and_its_models_agree_with_the_fixtures() {
    let python = NAMEKO2.python();
    let (scratch, source) = committed_copy("pypkg");
    let target = scratch.join("site");
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "-q", "--no-deps", "--target"])
        .arg(&target)
        .arg(&source)
        .output()
        .expect("pip runs");
    assert!(
        installed.status.success(),
        "pip install failed:\n{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/models_check.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(workspace().join("fixtures"))
        .env("PYTHONPATH", &target)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        results["imported_from"]
            .as_str()
            .is_some_and(|from| Path::new(from).starts_with(&target)),
        "imported the installed package: {results}"
    );
    let verdicts = results["fixtures"].as_object().unwrap();
    assert!(verdicts.len() >= 7, "{verdicts:?}");
    for (fixture, accepted) in verdicts {
        assert_eq!(
            accepted,
            &Value::Bool(fixture.contains("/good/")),
            "the model's verdict on {fixture}"
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// A schema using every construct the generator maps, as schemars writes them.
fn kitchen_sink() -> Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Sink",
        "description": "Every shape at once.",
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "count", "kind", "tags", "class", "x-y", "shape", "answer"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "when": {"type": "string", "format": "date-time"},
            "count": {"type": "integer", "format": "uint8"},
            "ratio": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
            "kind": {"type": "string", "enum": ["small", "large"]},
            "note": {"type": ["string", "null"], "maxLength": 5},
            "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}, "minItems": 1, "maxItems": 2},
            "meta": {"type": "object", "additionalProperties": {"type": "integer"}},
            "class": {"type": "boolean"},
            "x-y": {"type": "integer", "minimum": -3, "maximum": 3},
            "inner": {"type": "object", "properties": {"depth": {"type": "integer"}}, "required": ["depth"]},
            "shape": {"$ref": "#/$defs/Shape"},
            "answer": {"const": 42},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]}
        },
        "$defs": {
            "Shape": {
                "oneOf": [
                    {"type": "string", "const": "Dot"},
                    {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["Circle"],
                        "properties": {"Circle": {"type": "object", "required": ["r"], "properties": {"r": {"type": "number", "minimum": 0}}}}
                    }
                ]
            }
        }
    })
}

#[test]
fn generated_models_agree_with_the_schema_on_every_sample() {
    use serde_json::json;
    let schema = kitchen_sink();
    let base = json!({
        "id": "6f1d2a8e-1c1b-4f51-9d7a-0c6b7a1e2f3d", "count": 3, "kind": "small",
        "tags": ["a"], "class": true, "x-y": 0, "shape": "Dot", "answer": 42
    });
    let with = |key: &str, value: Value| {
        let mut sample = base.clone();
        sample[key] = value;
        sample
    };
    let without = |key: &str| {
        let mut sample = base.clone();
        sample.as_object_mut().unwrap().remove(key);
        sample
    };
    let samples = vec![
        base.clone(),
        with("when", json!("2026-11-27T12:00:00Z")),
        with("when", json!("yesterday")),
        with("id", json!("not-a-uuid")),
        with("count", json!(255)),
        with("count", json!(256)),
        with("count", json!(-1)),
        with("count", json!("3")),
        with("count", json!(3.5)),
        with("ratio", json!(0)),
        with("ratio", json!(1)),
        with("kind", json!("medium")),
        with("note", json!(null)),
        with("note", json!("abcdef")),
        with("tags", json!([])),
        with("tags", json!(["a", "b", "c"])),
        with("tags", json!(["A"])),
        with("meta", json!({"a": 1})),
        with("meta", json!({"a": "1"})),
        with("class", json!("yes")),
        with("x-y", json!(4)),
        with("inner", json!({"depth": 1})),
        with("inner", json!({})),
        with("shape", json!({"Circle": {"r": 1.5}})),
        with("shape", json!({"Circle": {"r": -1}})),
        with("shape", json!({"Square": {}})),
        with("shape", json!("Line")),
        with("answer", json!(41)),
        with("either", json!("x")),
        with("either", json!(7)),
        with("either", json!([])),
        with("extra", json!(1)),
        without("tags"),
    ];
    let validator = contracts_core::validate::MessageValidator::new(&schema).unwrap();
    let expected: Vec<bool> = samples.iter().map(|s| validator.check(s).is_ok()).collect();
    // The samples test both sides of most rules.
    assert!(
        expected.iter().filter(|v| **v).count() >= 10,
        "{expected:?}"
    );
    assert!(
        expected.iter().filter(|v| !**v).count() >= 15,
        "{expected:?}"
    );

    assert_models_agree("kitchen", &schema, &samples, &expected);
}

/// An internally tagged enum as schemars writes it (`#[serde(tag = "kind")]`): a newtype
/// variant's tag stands beside a `$ref` to its struct, whose fields its model must check too;
/// a variant closed where it stands (`unevaluatedProperties`, `additionalProperties`) has a
/// closed model.
#[test]
fn internally_tagged_variants_agree_with_the_schema() {
    use serde_json::json;
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Shape",
        "oneOf": [
            {
                "type": "object",
                "properties": {"kind": {"type": "string", "const": "Circle"}},
                "$ref": "#/$defs/Circle",
                "required": ["kind"]
            },
            {
                "type": "object",
                "properties": {"kind": {"type": "string", "const": "Square"}},
                "$ref": "#/$defs/Square",
                "required": ["kind"],
                "unevaluatedProperties": false
            },
            {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "const": "Dot"},
                    "at": {"type": "integer", "format": "uint32", "minimum": 0}
                },
                "additionalProperties": false,
                "required": ["kind", "at"]
            }
        ],
        "$defs": {
            "Circle": {
                "type": "object",
                "properties": {"r": {"type": "number", "minimum": 0}},
                "required": ["r"]
            },
            "Square": {
                "type": "object",
                "properties": {"side": {"type": "integer", "minimum": 1}},
                "required": ["side"]
            }
        }
    });
    let samples = vec![
        json!({"kind": "Circle", "r": 1.5}),
        json!({"kind": "Circle"}),
        json!({"kind": "Circle", "r": -1}),
        json!({"kind": "Circle", "r": 2, "colour": "red"}),
        json!({"kind": "Square", "side": 3}),
        json!({"kind": "Square", "side": 3.0}),
        json!({"kind": "Square", "side": 0}),
        json!({"kind": "Square"}),
        json!({"kind": "Square", "side": 3, "colour": "red"}),
        json!({"kind": "Dot", "at": 4}),
        json!({"kind": "Dot", "at": 4, "colour": "red"}),
        json!({"kind": "Hexagon"}),
        json!({"r": 1}),
    ];
    let validator = contracts_core::validate::MessageValidator::new(&schema).unwrap();
    let expected: Vec<bool> = samples.iter().map(|s| validator.check(s).is_ok()).collect();
    assert_eq!(
        expected,
        [
            true, false, false, true, true, true, false, false, false, true, false, false, false
        ]
    );
    assert_models_agree("tagged", &schema, &samples, &expected);
}

/// A field that may be left out takes the schema's default (when it is a plain value of the
/// field's type) or `None`, and refuses `null` unless the schema accepts it, as serde does.
#[test]
fn omittable_fields_refuse_null_unless_nullable() {
    use serde_json::json;
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Omittable",
        "type": "object",
        "properties": {
            "active": {"type": "boolean", "default": false},
            "tags": {"type": "array", "items": {"type": "string"}, "default": []},
            "tier": {"$ref": "#/$defs/Tier", "default": "basic"},
            "note": {"type": ["string", "null"]},
            "id": {"type": "integer", "format": "uint64", "minimum": 0}
        },
        "required": ["id"],
        "$defs": {"Tier": {"type": "string", "enum": ["basic", "premium"]}}
    });
    let module = contracts_cli::python::message_module("sink", &schema);
    for line in [
        "active: Annotated[bool, Field(strict=True)] = Field(default=False)",
        "tags: list[Annotated[str, Field(strict=True)]] = Field(default=[])",
        "tier: Annotated[Tier | None, AfterValidator(not_null)] = Field(default=None)",
        "note: Annotated[str, Field(strict=True)] | None = Field(default=None)",
    ] {
        assert!(module.contains(line), "no `{line}` in:\n{module}");
    }
    let samples = vec![
        json!({"id": 1}),
        json!({"id": 1, "active": true, "tags": ["a"], "tier": "premium", "note": "n"}),
        json!({"id": 1, "active": null}),
        json!({"id": 1, "tags": null}),
        json!({"id": 1, "tier": null}),
        json!({"id": 1, "note": null}),
    ];
    let validator = contracts_core::validate::MessageValidator::new(&schema).unwrap();
    let expected: Vec<bool> = samples.iter().map(|s| validator.check(s).is_ok()).collect();
    assert_eq!(expected, [true, true, false, false, false, true]);
    assert_models_agree("omittable", &schema, &samples, &expected);
}

/// The generated model of `schema` (a module `sink.py`, with the runtime beside it) judges
/// each of `samples` as `expected` says (the schema's own verdicts).
fn assert_models_agree(label: &str, schema: &Value, samples: &[Value], expected: &[bool]) {
    let dir = std::env::temp_dir().join(format!("contracts-sink-{label}-{}", std::process::id()));
    let package = dir.join("sinkpkg");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(package.join("__init__.py"), "").unwrap();
    std::fs::write(
        package.join("sink.py"),
        contracts_cli::python::message_module("sink", schema),
    )
    .unwrap();
    // The runtime the module imports (`._runtime.messages`), beside it in its package.
    let empty = contracts_cli::catalog::Catalog::default();
    for (path, text) in contracts_cli::python::package(&empty, "sinkpkg") {
        if path.starts_with("sinkpkg/_runtime") {
            std::fs::create_dir_all(dir.join(&path).parent().unwrap()).unwrap();
            std::fs::write(dir.join(&path), text).unwrap();
        }
    }
    let samples_file = dir.join("samples.json");
    std::fs::write(&samples_file, serde_json::to_string(samples).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/agree.py");
    let out = Command::new(NAMEKO2.python())
        .arg(&script)
        .arg(&dir)
        .arg(&samples_file)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(package.join("sink.py")).unwrap()
    );
    let verdicts: Vec<bool> = serde_json::from_slice(&out.stdout).unwrap();
    let disagreements: Vec<String> = samples
        .iter()
        .zip(expected.iter().zip(&verdicts))
        .filter(|(_, (schema, model))| schema != model)
        .map(|(sample, (schema, _))| format!("schema says {schema} for {sample}"))
        .collect();
    assert!(
        disagreements.is_empty(),
        "the model disagrees with the schema:\n{}\n\n{}",
        disagreements.join("\n"),
        std::fs::read_to_string(package.join("sink.py")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `mypy --strict` on `targets`, with `package` (a generated package's folder) importable.
fn mypy(package: &Path, targets: &[PathBuf]) -> (bool, String) {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let scratch = std::env::temp_dir().join(format!(
        "contracts-mypy-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&scratch).unwrap();
    let out = Command::new(NAMEKO2.python())
        .args(["-m", "mypy", "--strict", "--no-incremental", "--cache-dir"])
        .arg(scratch.join("mypy-cache"))
        .args(targets)
        .env("MYPYPATH", package)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(&scratch)
        .output()
        .expect("mypy runs");
    let _ = std::fs::remove_dir_all(&scratch);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

#[test]
fn the_package_passes_mypy_strict_and_ruff() {
    let package = committed();
    let targets = [package.join("seed_contracts"), sample("typed_usage.py")];
    let (clean, report) = mypy(&package, &targets);
    assert!(clean, "mypy --strict:\n{report}");
    let ruff = Command::new(NAMEKO2.python().with_file_name("ruff"))
        .args(["check", "--no-cache", "--isolated"])
        .arg(&targets[0])
        .output()
        .expect("ruff runs");
    assert!(
        ruff.status.success(),
        "ruff check:\n{}",
        String::from_utf8_lossy(&ruff.stdout)
    );
}

#[test]
fn the_runtime_refuses_misuse_and_reads_errors_from_the_wire() {
    let out = Command::new(NAMEKO2.python())
        .arg(sample("runtime_check.py"))
        .env("PYTHONPATH", committed())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("python runs");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mypy_refuses_arguments_of_the_wrong_type() {
    let (clean, report) = mypy(&committed(), &[sample("wrong_types.py")]);
    assert!(!clean, "mypy accepted wrong_types.py:\n{report}");
    // One error per line marked wrong, each on that line.
    let source = std::fs::read_to_string(sample("wrong_types.py")).unwrap();
    for (index, line) in source.lines().enumerate() {
        if line.contains("# wrong") {
            let at = format!("wrong_types.py:{}: error:", index + 1);
            assert!(
                report.contains(&at),
                "no error at line {}:\n{report}",
                index + 1
            );
        }
    }
    assert!(report.contains("expected \"UserData\""), "{report}");
    assert!(report.contains("expected \"int\""), "{report}");
}

/// A change `contracts check` calls breaking — `UserData.user_id` from integer to string —
/// changes the generated Python so that both mypy (on code written against the old package)
/// and the new guard (on a request shaped as before) refuse what used to pass.
#[test]
fn a_breaking_change_shows_in_the_generated_python() {
    let scratch = std::env::temp_dir().join(format!("contracts-pybreak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let schemas = scratch.join("schemas");
    for file in files(&workspace().join("schemas")) {
        let to = schemas.join(&file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(workspace().join("schemas").join(&file), to).unwrap();
    }
    let request = schemas.join("user_service/create_user.request.json");
    let mut schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&request).unwrap()).unwrap();
    schema["$defs"]["UserData"]["properties"]["user_id"] =
        serde_json::json!({"type": "string", "description": "The user's id, now a string."});
    std::fs::write(&request, serde_json::to_string_pretty(&schema).unwrap()).unwrap();

    let check = Command::new(env!("CARGO_BIN_EXE_contracts"))
        .arg("--schemas")
        .arg(&schemas)
        .args(["check", "--against"])
        .arg(workspace().join("schemas"))
        .output()
        .expect("contracts runs");
    let table = String::from_utf8_lossy(&check.stdout);
    assert_eq!(
        check.status.code(),
        Some(1),
        "check calls it breaking:\n{table}"
    );
    assert!(table.contains("BREAKING"), "{table}");

    let package = scratch.join("python");
    let catalog = Catalog::load(&schemas).unwrap();
    for (path, text) in contracts_cli::python::package(&catalog, "seed_contracts") {
        let path = package.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let (clean, report) = mypy(&package, &[sample("typed_usage.py")]);
    assert!(
        !clean,
        "mypy accepted the old usage against the new package:\n{report}"
    );
    assert!(
        report.contains(
            "Argument \"user_id\" to \"UserData\" has incompatible type \"int\"; expected \"str\""
        ),
        "{report}"
    );

    let guard = Command::new(NAMEKO2.python())
        .arg("-c")
        .arg(
            "import json\n\
             from seed_contracts import ValidationError\n\
             from seed_contracts.user_service import CONTRACT\n\
             try:\n    CONTRACT.request('create_user', {'user_data': {'user_id': 5, 'name': 'Ada'}})\n\
             except ValidationError as e:\n    print(json.dumps([f.pointer for f in e.failures]))\n",
        )
        .env("PYTHONPATH", &package)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("python runs");
    assert_eq!(
        String::from_utf8_lossy(&guard.stdout).trim(),
        r#"["/user_data/user_id"]"#,
        "the new guard refuses the old request shape:\n{}",
        String::from_utf8_lossy(&guard.stderr)
    );
    let _ = std::fs::remove_dir_all(&scratch);
}
