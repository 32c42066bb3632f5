//! The running test binary, started again as a process of its own to run one test: how
//! tests of signals and exit codes get a service process whose fate is theirs to watch.
//! The test takes its child branch when it finds the environment it was started with.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::guarded;

/// This test binary, running only `test`, with `env` set; killed when dropped.
pub struct TestProcess {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl TestProcess {
    /// Start this binary again to run `test` alone, with `env` set.
    pub fn start(test: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn(
            Command::new(std::env::current_exe().expect("test binary")),
            test,
            env,
        )
    }

    /// [`Self::start`] on `host` ([`crate::TestHosts`]): its network is the host's.
    pub fn start_on(host: &crate::Host, test: &str, env: &[(&str, &str)]) -> Self {
        let exe = std::env::current_exe().expect("test binary");
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &host.netns]).arg(exe);
        Self::spawn(command, test, env)
    }

    fn spawn(mut command: Command, test: &str, env: &[(&str, &str)]) -> Self {
        let mut child = command
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the test process");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, lines }
    }

    /// Wait for a line of its output containing `prefix`, and return it.
    pub async fn expect_line(&mut self, prefix: &str) -> String {
        guarded(prefix, async {
            loop {
                match self.lines.next_line().await.expect("read child stdout") {
                    Some(line) if line.contains(prefix) => return line,
                    Some(_) => continue,
                    None => panic!("the process ended before printing {prefix}"),
                }
            }
        })
        .await
    }

    /// Send it the signal `name` (`TERM`, `INT`, `KILL`, …).
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait for it to exit: its exit code, `None` if a signal ended it.
    pub async fn exit_code(mut self) -> Option<i32> {
        guarded("exit", self.child.wait())
            .await
            .expect("wait")
            .code()
    }
}
