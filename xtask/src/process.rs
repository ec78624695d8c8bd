//! Child processes the jobs start and must not leave behind: servers on free ports of
//! 127.0.0.1, each killed when its handle is dropped.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use anyhow::Context;

/// A server process on 127.0.0.1, stopped when dropped.
pub struct BackgroundServer {
    child: ChildGuard,
    /// Its address, `http://127.0.0.1:PORT`.
    pub url: String,
}

impl BackgroundServer {
    /// Starts `command` and waits, up to `within`, for the line it prints once it
    /// listens; `url_of` finds the URL in that line.
    pub fn start(
        mut command: Command,
        within: Duration,
        url_of: impl Fn(&str) -> Option<String> + Send + 'static,
    ) -> anyhow::Result<Self> {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {:?}", command.get_program()))?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let child = ChildGuard(child);
        let (found, url) = mpsc::channel();
        // Reads until the line turns up, then keeps draining so the server never blocks
        // on a full pipe.
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = found.as_ref().and_then(|_| url_of(&line))
                    && let Some(found) = found.take()
                {
                    let _ = found.send(url);
                }
            }
        });
        let url = url
            .recv_timeout(within)
            .with_context(|| format!("the server did not start listening within {within:?}"))?;
        Ok(Self { child, url })
    }

    /// Relay's server binary `bin` on a free port, with `args` besides.
    pub fn relay(bin: &Path, args: &[&str]) -> anyhow::Result<Self> {
        Self::start_relay(Self::relay_command(bin, args))
    }

    /// The command that starts Relay's server binary `bin` on a free port.
    pub fn relay_command(bin: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(bin);
        command
            .args(["--addr", "127.0.0.1:0", "--log", "warn"])
            .args(args);
        command
    }

    /// Starts a [`relay_command`](Self::relay_command).
    pub fn start_relay(command: Command) -> anyhow::Result<Self> {
        Self::start(command, Duration::from_secs(30), |line| {
            line.trim()
                .strip_prefix("relay listening on ")
                .map(str::to_owned)
        })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// Kills the child process when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `path` as UTF-8, for a command line.
pub fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("not UTF-8: {}", path.display()))
}
