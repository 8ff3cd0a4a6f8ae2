//! A sandbox binary run as a process, for the tests that need the real binary (`tests/cli.rs`,
//! `tests/state_file.rs`): started with a clean `MASSPAY_SANDBOX_*` environment, its stdout read
//! line by line, its stderr collected, killed and reaped when dropped.
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_masspay-sandbox");
/// Generous: the first start of a debug binary on a busy 2-core machine.
pub const STARTUP: Duration = Duration::from_secs(20);
pub const EXIT: Duration = Duration::from_secs(20);

/// A running (or finished) sandbox process, killed and reaped when dropped.
pub struct Proc {
    child: Child,
    /// stdout, line by line, read by a thread (closed at EOF).
    pub lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Proc {
    /// Starts the binary with `args` and `env`, and no inherited `MASSPAY_SANDBOX_*` variable.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("MASSPAY_SANDBOX_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Proc {
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    /// Waits for the first stdout line, asserts it is `listening on http://127.0.0.1:PORT`, and
    /// returns the address.
    pub fn listening(&self) -> SocketAddr {
        let line = match self.lines.recv_timeout(STARTUP) {
            Ok(l) => l,
            Err(e) => panic!("no listening line within {STARTUP:?} ({e:?})"),
        };
        let port = line
            .strip_prefix("listening on http://127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        assert!(
            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
            "{line:?}"
        );
        let port: u16 = port.parse().unwrap();
        assert_ne!(port, 0, "{line:?}");
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "did not exit within {EXIT:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every stdout line not read yet, up to EOF (call after exit).
    pub fn rest_of_stdout(&self) -> Vec<String> {
        let mut rest = Vec::new();
        loop {
            match self.lines.recv_timeout(EXIT) {
                Ok(l) => rest.push(l),
                Err(RecvTimeoutError::Disconnected) => return rest,
                Err(RecvTimeoutError::Timeout) => panic!("stdout stayed open after exit"),
            }
        }
    }

    /// All of stderr (call after exit).
    pub fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
