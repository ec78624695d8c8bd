//! A cluster on 127.0.0.1 for `cargo xtask cluster` and the cluster benchmarks:
//! redis-server, Relay nodes sharing it, and HAProxy in front, each a child process
//! stopped when its handle is dropped.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use xshell::Shell;

use crate::{
    process::{BackgroundServer, ChildGuard, path_str},
    toolchain,
};

/// A redis-server configured as Relay's docs prescribe: AOF, fsync on every write.
pub fn redis(sh: &Shell, dir: &Path, port: u16) -> anyhow::Result<BackgroundServer> {
    let program = toolchain::which(sh, "redis-server").context("redis-server is not installed")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut command = Command::new(program);
    command
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--dir", path_str(dir)?])
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ])
        .args(["--daemonize", "no", "--loglevel", "notice"]);
    let url = format!("redis://127.0.0.1:{port}");
    BackgroundServer::start(command, Duration::from_secs(30), move |line| {
        line.contains("Ready to accept connections")
            .then(|| url.clone())
    })
}

/// A Relay node in cluster mode on `redis_url`, on a free port, serving `dist`, with
/// `args` besides.
pub fn relay_node(
    bin: &Path,
    redis_url: &str,
    dist: &Path,
    args: &[&str],
    log: Option<std::fs::File>,
) -> anyhow::Result<BackgroundServer> {
    let mut command = BackgroundServer::relay_command(
        bin,
        &["--redis-url", redis_url, "--static-dir", path_str(dist)?],
    );
    command.args(args);
    if let Some(log) = log {
        command.stderr(log);
    }
    BackgroundServer::start_relay(command)
}

/// HAProxy with `deploy/haproxy.cfg`, listening on `front`, in front of three nodes.
pub fn haproxy(sh: &Shell, front: SocketAddr, nodes: [&str; 3]) -> anyhow::Result<ChildGuard> {
    let program = toolchain::which(sh, "haproxy").context("haproxy is not installed")?;
    let address = |url: &str| url.trim_start_matches("http://").to_owned();
    let child = Command::new(program)
        .arg("-db")
        .arg("-f")
        .arg(sh.current_dir().join("deploy/haproxy.cfg"))
        .env("RELAY_FRONT", front.to_string())
        .env("RELAY_NODE1", address(nodes[0]))
        .env("RELAY_NODE2", address(nodes[1]))
        .env("RELAY_NODE3", address(nodes[2]))
        .stdout(Stdio::null())
        .spawn()
        .context("starting haproxy")?;
    let guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !healthy(front) {
        if Instant::now() >= deadline {
            bail!("haproxy did not answer /healthz on {front} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(guard)
}

/// Whether `GET /healthz` through `addr` answers 200.
fn healthy(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: relay\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200")
}

/// A free port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
