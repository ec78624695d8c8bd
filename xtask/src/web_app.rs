//! Builds the web app (`client/`, through trunk) into `dist/`, compressed once for serving.

use xshell::{Shell, cmd};

use crate::{precompress, step, toolchain};

/// Installs the build tools if missing, then `trunk build --release` into `dist/`, with
/// a Brotli and a gzip copy of each file for the server to send.
pub fn build_release(sh: &Shell) -> anyhow::Result<()> {
    toolchain::ensure_web_build(sh)?;
    step("building the web app (trunk build --release)");
    // trunk runs cargo with --offline, so that a missing tool is an error at once rather
    // than a download attempt: fetch the crates first.
    cmd!(sh, "cargo fetch --locked").run()?;
    cmd!(sh, "trunk build --release --offline")
        .env("PATH", toolchain::path_with_tools(sh)?)
        .run()?;
    step("compressing the web app for serving (Brotli and gzip)");
    precompress::precompress(&sh.current_dir().join("dist"))?;
    Ok(())
}
