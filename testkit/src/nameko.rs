//! Real Nameko 2.14.1 processes: a Python venv made on first use, services that say when they
//! are ready, and client scripts whose JSON output the Rust test asserts on.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::{GUARD, TestVhost};

/// What the venv holds: Nameko 2.14.1 and the schema tools (`testkit/python-requirements.txt`).
pub const REQUIREMENTS: &str = include_str!("../python-requirements.txt");

fn requirements_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python-requirements.txt")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit sits in the workspace")
        .to_owned()
}

/// The venv's directory: `CONTRACTS_NAMEKO_VENV`, or `target/nameko-venv` in the workspace.
pub fn venv() -> PathBuf {
    std::env::var_os("CONTRACTS_NAMEKO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target").join("nameko-venv"))
}

/// The venv's Python, creating the venv with Nameko if it is not there yet. Test binaries run
/// in parallel, so creation happens under a lock file and the others wait for its marker.
pub fn python() -> PathBuf {
    let venv = venv();
    let python = venv.join("bin").join("python");
    let ready = venv.join(".contracts-ready");
    // The marker holds the requirements it was made with: a changed list re-installs.
    if std::fs::read_to_string(&ready).is_ok_and(|made| made == REQUIREMENTS) {
        return python;
    }
    std::fs::create_dir_all(venv.parent().expect("venv has a parent")).expect("create target/");
    let lock = venv.with_extension("lock");
    match OpenOptions::new().write(true).create_new(true).open(&lock) {
        Ok(_) => {
            let result = build_venv(&venv);
            let _ = std::fs::remove_file(&lock);
            if let Err(why) = result {
                panic!(
                    "cannot create the Nameko venv at {}: {why}\nCreate it by hand with \
                     `python3 -m venv {0} && {0}/bin/pip install -r {1}` (or run .ci/run).",
                    venv.display(),
                    requirements_file().display()
                );
            }
            std::fs::write(&ready, REQUIREMENTS).expect("write the venv marker");
        }
        Err(_) => {
            // Another test binary is building it; a lock older than the guard is stale.
            let started = std::time::Instant::now();
            while !std::fs::read_to_string(&ready).is_ok_and(|made| made == REQUIREMENTS) {
                assert!(
                    started.elapsed() < Duration::from_secs(600),
                    "waited 10 minutes for another process to create {}; remove {} if it died",
                    venv.display(),
                    lock.display()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    python
}

fn build_venv(venv: &Path) -> Result<(), String> {
    let run = |program: &Path, args: &[&str]| -> Result<(), String> {
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {args:?} failed:\n{}{}",
                program.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let venv_text = venv.to_str().ok_or("venv path is not UTF-8")?;
    run(Path::new("python3"), &["-m", "venv", venv_text])?;
    let requirements = requirements_file();
    let requirements = requirements
        .to_str()
        .ok_or("requirements path is not UTF-8")?;
    run(
        &venv.join("bin").join("pip"),
        &["install", "-q", "-r", requirements],
    )
}

fn python_command(amqp_uri: &str, script: &Path) -> Command {
    let mut command = Command::new(python());
    command
        .arg(script)
        .env("AMQP_URI", amqp_uri)
        .env("PYTHONWARNINGS", "ignore")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// A running Nameko process, killed when dropped.
pub struct NamekoProcess {
    child: Child,
    script: PathBuf,
    output: Option<mpsc::UnboundedReceiver<String>>,
}

impl NamekoProcess {
    /// Run `script` (a Python file that starts Nameko services and prints `READY` once they
    /// consume) with `args`, against `vhost`; return once it is ready.
    pub async fn start(vhost: &TestVhost, script: &Path, args: &[&str]) -> Self {
        Self::start_at(vhost.raw_uri(), script, args).await
    }

    /// [`Self::start`] against any broker: `amqp_uri` becomes the process's `AMQP_URI`.
    pub async fn start_at(amqp_uri: &str, script: &Path, args: &[&str]) -> Self {
        let mut child = python_command(amqp_uri, script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(GUARD, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim() == "READY" {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(ready, Ok(true)),
            "{} never printed READY (see its stderr above)",
            script.display()
        );
        // Keep draining stdout so the process never blocks on a full pipe; what it prints
        // after READY is the test's to read (`output`), or dropped.
        let (tx, output) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            script: script.to_owned(),
            output: Some(output),
        }
    }

    /// The lines the process prints after `READY`, as it prints them; the channel closes when
    /// its stdout does. `None` once taken.
    pub fn take_output(&mut self) -> Option<mpsc::UnboundedReceiver<String>> {
        self.output.take()
    }

    /// Wait until the process exits, and say how. Cancel-safe: usable in `select!`.
    pub async fn exit(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    /// Stop the process with SIGTERM (Nameko's graceful stop) and wait for it to exit.
    pub async fn terminate(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let waited = tokio::time::timeout(GUARD, self.child.wait()).await;
        assert!(
            waited.is_ok(),
            "{} did not exit after SIGTERM",
            self.script.display()
        );
    }
}

/// Run a Python client `script` with `args` against `vhost` and return the JSON it prints
/// last on stdout. Fails the test, with the script's stderr, if it exits non-zero.
pub async fn run_client(vhost: &TestVhost, script: &Path, args: &[&str]) -> serde_json::Value {
    let output = tokio::time::timeout(
        GUARD * 2,
        python_command(vhost.raw_uri(), script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{} did not finish", script.display()))
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} {args:?} failed ({}):\n{stdout}\n{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "{} printed no JSON ({e}):\n{stdout}\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}
