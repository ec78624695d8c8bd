//! Detects and installs the tools the jobs need, each only when it is missing or at the
//! wrong version. The versions and the ways to get them without GitHub downloads are
//! those verified in `../shared/TOOLCHAIN.md`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use crate::step;

/// trunk: 0.22 needs a newer rustc than our machines have.
const TRUNK_VERSION: &str = "0.21.14";
/// binaryen from npm: Debian's (v108) produces a .wasm that crashes in Chromium.
const BINARYEN_VERSION: &str = "132.0.0";
/// What `wasm-opt --version` says for [`BINARYEN_VERSION`], and what Trunk.toml asks for.
const WASM_OPT_VERSION: &str = "version_132";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Where npm-installed tools live: inside `target/`, so `cargo clean` removes them too.
pub fn tools_dir(sh: &Shell) -> PathBuf {
    sh.current_dir().join("target/tools")
}

/// `PATH` with the project's npm tools (wasm-opt) and cargo's bin directory in front.
pub fn path_with_tools(sh: &Shell) -> anyhow::Result<String> {
    let mut dirs = vec![tools_dir(sh).join("node_modules/.bin")];
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs)?
        .into_string()
        .map_err(|_| anyhow::anyhow!("PATH is not UTF-8"))
}

/// Everything needed to build the web app: the wasm target, trunk, wasm-bindgen-cli at
/// the version in Cargo.lock, and wasm-opt.
pub fn ensure_web_build(sh: &Shell) -> anyhow::Result<()> {
    ensure_wasm_target(sh)?;
    ensure_trunk(sh)?;
    ensure_wasm_bindgen(sh)?;
    ensure_wasm_opt(sh)
}

fn ensure_wasm_target(sh: &Shell) -> anyhow::Result<()> {
    let installed = cmd!(sh, "rustup target list --installed").read()?;
    if !installed.lines().any(|t| t.trim() == WASM_TARGET) {
        step("installing the wasm32 target");
        cmd!(sh, "rustup target add {WASM_TARGET}").run()?;
    }
    Ok(())
}

fn ensure_trunk(sh: &Shell) -> anyhow::Result<()> {
    let path = path_with_tools(sh)?;
    let version = cmd!(sh, "trunk --version")
        .env("PATH", &path)
        .ignore_stderr()
        .read()
        .unwrap_or_default();
    if version.trim() != format!("trunk {TRUNK_VERSION}") {
        step(&format!(
            "installing trunk {TRUNK_VERSION} (about 7 minutes)"
        ));
        cmd!(sh, "cargo install trunk --version {TRUNK_VERSION} --locked").run()?;
    }
    Ok(())
}

/// The CLI must match the `wasm-bindgen` crate exactly.
fn ensure_wasm_bindgen(sh: &Shell) -> anyhow::Result<()> {
    let wanted = locked_version(sh, "wasm-bindgen")?;
    let path = path_with_tools(sh)?;
    let version = cmd!(sh, "wasm-bindgen --version")
        .env("PATH", &path)
        .ignore_stderr()
        .read()
        .unwrap_or_default();
    if version.trim() != format!("wasm-bindgen {wanted}") {
        step(&format!(
            "installing wasm-bindgen-cli {wanted} (about 3 minutes)"
        ));
        // Not --locked: its lockfile pins a crate the registry no longer has.
        cmd!(sh, "cargo install wasm-bindgen-cli --version {wanted}").run()?;
    }
    Ok(())
}

fn ensure_wasm_opt(sh: &Shell) -> anyhow::Result<()> {
    let wasm_opt = tools_dir(sh).join("node_modules/.bin/wasm-opt");
    let version = cmd!(sh, "{wasm_opt} --version")
        .ignore_stderr()
        .read()
        .unwrap_or_default();
    if !version.contains(WASM_OPT_VERSION) {
        step(&format!(
            "installing wasm-opt (npm binaryen@{BINARYEN_VERSION})"
        ));
        let dir = tools_dir(sh);
        sh.create_dir(&dir)?;
        cmd!(
            sh,
            "npm install --no-audit --no-fund --prefix {dir} binaryen@{BINARYEN_VERSION}"
        )
        .run()?;
    }
    Ok(())
}

/// The npm packages of the end-to-end tests, installed from their lockfile when it
/// changed since the last install.
pub fn ensure_e2e_packages(sh: &Shell) -> anyhow::Result<()> {
    let e2e = sh.current_dir().join("e2e");
    ensure_npm_packages(sh, &e2e, "the e2e tests")
}

/// The npm packages of `dir`'s package-lock.json, installed unless already in step.
pub fn ensure_npm_packages(sh: &Shell, dir: &Path, what: &str) -> anyhow::Result<()> {
    ensure_command(sh, "node")?;
    let lock = std::fs::metadata(dir.join("package-lock.json"))
        .and_then(|m| m.modified())
        .with_context(|| format!("{}/package-lock.json", dir.display()))?;
    let installed = std::fs::metadata(dir.join("node_modules/.package-lock.json"))
        .and_then(|m| m.modified())
        .ok();
    if installed.is_none_or(|installed| installed < lock) {
        step(&format!("installing the npm packages of {what}"));
        let _dir = sh.push_dir(dir);
        cmd!(sh, "npm ci --no-audit --no-fund").run()?;
    }
    Ok(())
}

/// Debian packages, installed with apt when their command is missing.
pub fn ensure_debian_packages(sh: &Shell, wanted: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(command, _)| which(sh, command).is_none())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    step(&format!(
        "installing Debian packages: {}",
        missing.join(" ")
    ));
    if which(sh, "apt-get").is_none() {
        bail!(
            "apt-get is not available: install {} by hand",
            missing.join(" ")
        );
    }
    let apt: &[&str] = if cmd!(sh, "id -u").read()?.trim() == "0" {
        &["apt-get"]
    } else {
        &["sudo", "apt-get"]
    };
    let (program, args) = apt.split_first().expect("not empty");
    cmd!(sh, "{program} {args...} update -q").run()?;
    cmd!(sh, "{program} {args...} install -y -q {missing...}")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()?;
    Ok(())
}

fn ensure_command(sh: &Shell, command: &str) -> anyhow::Result<()> {
    if which(sh, command).is_none() {
        bail!("{command} is needed and not installed");
    }
    Ok(())
}

/// The path of `command` on PATH (with the project's tools in front), if any.
pub fn which(sh: &Shell, command: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = path_with_tools(sh).ok()?;
    // Debian puts daemons (haproxy) in /usr/sbin, which a user's PATH may lack.
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(command))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The version of `package` in Cargo.lock.
fn locked_version(sh: &Shell, package: &str) -> anyhow::Result<String> {
    let lock = sh.read_file("Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"")
            && let Some(version) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
        {
            return Ok(version.to_owned());
        }
    }
    bail!("{package} is not in Cargo.lock")
}
