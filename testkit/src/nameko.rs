//! Real Nameko processes: Python venvs made on first use (Nameko 2.14.1, and Nameko 3 for
//! tracing), services that say when they are ready, and client scripts whose JSON output the
//! Rust test asserts on.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::{GUARD, TestVhost};

/// A Python venv the tests run Nameko in, made on first use from a requirements file.
#[derive(Clone, Copy, Debug)]
pub struct Venv {
    /// The variable that points at an existing venv instead.
    env: &'static str,
    /// Its directory under the workspace's `target/`.
    dir: &'static str,
    /// The requirements file, in `testkit/`.
    file: &'static str,
    /// Its text.
    requirements: &'static str,
}

/// Nameko 2.14.1 and the schema tools (`testkit/python-requirements.txt`), at
/// `CONTRACTS_NAMEKO_VENV` or `target/nameko-venv`.
pub const NAMEKO2: Venv = Venv {
    env: "CONTRACTS_NAMEKO_VENV",
    dir: "nameko-venv",
    file: "python-requirements.txt",
    requirements: include_str!("../python-requirements.txt"),
};

/// Nameko 3 with opentelemetry-instrumentation-nameko (`testkit/nameko3-requirements.txt`), at
/// `CONTRACTS_NAMEKO3_VENV` or `target/nameko3-venv`.
pub const NAMEKO3: Venv = Venv {
    env: "CONTRACTS_NAMEKO3_VENV",
    dir: "nameko3-venv",
    file: "nameko3-requirements.txt",
    requirements: include_str!("../nameko3-requirements.txt"),
};

/// PyContracts, which installs a top-level `contracts` module, beside Nameko 2.14.1 and
/// pydantic (`testkit/pycontracts-requirements.txt`), at `CONTRACTS_PYCONTRACTS_VENV` or
/// `target/pycontracts-venv`: the generated Python package must install and work there.
pub const PYCONTRACTS: Venv = Venv {
    env: "CONTRACTS_PYCONTRACTS_VENV",
    dir: "pycontracts-venv",
    file: "pycontracts-requirements.txt",
    requirements: include_str!("../pycontracts-requirements.txt"),
};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit sits in the workspace")
        .to_owned()
}

impl Venv {
    /// The venv's directory.
    pub fn dir(&self) -> PathBuf {
        std::env::var_os(self.env)
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target").join(self.dir))
    }

    fn requirements_file(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(self.file)
    }

    /// The venv's Python, creating the venv if it is not there yet. Test binaries run in
    /// parallel, so creation happens under a lock file and the others wait for its marker.
    pub fn python(&self) -> PathBuf {
        let venv = self.dir();
        let python = venv.join("bin").join("python");
        let ready = venv.join(".contracts-ready");
        // The marker holds the requirements it was made with: a changed list re-installs.
        if std::fs::read_to_string(&ready).is_ok_and(|made| made == self.requirements) {
            return python;
        }
        std::fs::create_dir_all(venv.parent().expect("venv has a parent")).expect("create target/");
        let lock = venv.with_extension("lock");
        match OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(_) => {
                let result = build_venv(&venv, &self.requirements_file());
                let _ = std::fs::remove_file(&lock);
                if let Err(why) = result {
                    panic!(
                        "cannot create the Nameko venv at {}: {why}\nCreate it by hand with \
                         `python3 -m venv {0} && {0}/bin/pip install -r {1}` (or run .ci/run).",
                        venv.display(),
                        self.requirements_file().display()
                    );
                }
                std::fs::write(&ready, self.requirements).expect("write the venv marker");
            }
            Err(_) => {
                // Another test binary is building it; a lock older than the guard is stale.
                let started = std::time::Instant::now();
                while !std::fs::read_to_string(&ready).is_ok_and(|made| made == self.requirements) {
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
}

fn build_venv(venv: &Path, requirements: &Path) -> Result<(), String> {
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
    let requirements = requirements
        .to_str()
        .ok_or("requirements path is not UTF-8")?;
    run(
        &venv.join("bin").join("pip"),
        &["install", "-q", "-r", requirements],
    )
}

/// `venv`'s Python running `script`, on `host` (`ip netns exec`) when there is one.
fn python_command(
    venv: &Venv,
    amqp_uri: &str,
    script: &Path,
    host: Option<&crate::Host>,
) -> Command {
    let mut command = match host {
        Some(host) => {
            let mut command = Command::new("ip");
            command
                .args(["netns", "exec", &host.netns])
                .arg(venv.python());
            command
        }
        None => Command::new(venv.python()),
    };
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
        Self::start_in(&NAMEKO2, amqp_uri, script, args, &[]).await
    }

    /// [`Self::start_at`] in `venv`, with more environment variables.
    pub async fn start_in(
        venv: &Venv,
        amqp_uri: &str,
        script: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::spawn(None, venv, amqp_uri, script, args, env)
            .ready()
            .await
    }

    /// [`Self::start_in`] on `host` (`ip netns exec`), for the fault scenarios on hosts of
    /// their own.
    pub async fn start_on(
        host: &crate::Host,
        venv: &Venv,
        amqp_uri: &str,
        script: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::spawn(Some(host), venv, amqp_uri, script, args, env)
            .ready()
            .await
    }

    async fn ready(mut self) -> Self {
        let script = self.script.clone();
        let output = self.output.as_mut().expect("fresh output");
        let ready = tokio::time::timeout(GUARD, async {
            while let Some(line) = output.recv().await {
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
        self
    }

    /// Run `script` in `venv` without waiting for anything: every line it prints is in
    /// [`Self::take_output`], `READY` or not. For a process that is not expected to start.
    pub fn spawn_in(
        venv: &Venv,
        amqp_uri: &str,
        script: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::spawn(None, venv, amqp_uri, script, args, env)
    }

    fn spawn(
        host: Option<&crate::Host>,
        venv: &Venv,
        amqp_uri: &str,
        script: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = python_command(venv, amqp_uri, script, host)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        // Keep draining stdout so the process never blocks on a full pipe; what it prints is
        // the test's to read (`output`), or dropped.
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
    run_client_in(&NAMEKO2, vhost, script, args).await
}

/// [`run_client`] in `venv`.
pub async fn run_client_in(
    venv: &Venv,
    vhost: &TestVhost,
    script: &Path,
    args: &[&str],
) -> serde_json::Value {
    let output = tokio::time::timeout(
        GUARD * 2,
        python_command(venv, vhost.raw_uri(), script, None)
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
