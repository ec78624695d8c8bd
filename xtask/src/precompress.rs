//! Compresses the built web app once, at build time: each text or wasm file of `dist/`
//! gets a Brotli (`.br`) and a gzip (`.gz`) copy beside it, at the smallest settings,
//! which the server sends as they are to browsers that accept them. Compressing a 1.2 MB
//! wasm file per request cost the server about 100 ms of CPU each time and the first
//! visit as long; a copy made here costs nothing to send and is smaller.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;

/// The extensions worth compressing: what trunk writes that is not already compressed.
const COMPRESSIBLE: [&str; 6] = ["wasm", "js", "css", "html", "svg", "webmanifest"];

/// Writes `<file>.br` and `<file>.gz` beside every compressible file in `dir` (not in its
/// subdirectories: trunk writes the app flat), replacing older copies. A copy no smaller
/// than its file is not written, so the file is sent as it is.
pub fn precompress(dir: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let compressible = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| COMPRESSIBLE.contains(&e));
        if !compressible || !path.is_file() {
            continue;
        }
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        write_smaller(&path, "br", &bytes, brotli(&bytes)?)?;
        write_smaller(&path, "gz", &bytes, gzip(&bytes)?)?;
    }
    Ok(())
}

/// The size of `file`'s Brotli copy, if it has one.
pub fn brotli_size(file: &Path) -> Option<u64> {
    fs::metadata(with_suffix(file, "br")).ok().map(|m| m.len())
}

/// Brotli at its highest quality and a 4 MiB window, as browsers accept.
fn brotli(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        size_hint: bytes.len(),
        ..Default::default()
    };
    brotli::BrotliCompress(&mut { bytes }, &mut out, &params)?;
    Ok(out)
}

/// gzip at its highest level.
fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

fn write_smaller(file: &Path, suffix: &str, raw: &[u8], compressed: Vec<u8>) -> anyhow::Result<()> {
    let copy = with_suffix(file, suffix);
    if compressed.len() < raw.len() {
        fs::write(&copy, compressed).with_context(|| format!("writing {}", copy.display()))?;
    } else if copy.exists() {
        fs::remove_file(&copy).with_context(|| format!("removing {}", copy.display()))?;
    }
    Ok(())
}

/// `file` with `.suffix` appended to its name.
fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn copies_decompress_to_the_file_and_incompressible_files_get_none() {
        let dir = std::env::temp_dir().join(format!("xtask-precompress-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let text = "relay ".repeat(2_000);
        fs::write(dir.join("app.js"), &text).unwrap();
        fs::write(dir.join("icon.png"), &text).unwrap();
        // Too short to gain anything.
        fs::write(dir.join("tiny.css"), "a{}").unwrap();
        precompress(&dir).unwrap();

        let mut unbrotlied = Vec::new();
        brotli::Decompressor::new(fs::File::open(dir.join("app.js.br")).unwrap(), 4096)
            .read_to_end(&mut unbrotlied)
            .unwrap();
        let mut gunzipped = Vec::new();
        flate2::read::GzDecoder::new(fs::File::open(dir.join("app.js.gz")).unwrap())
            .read_to_end(&mut gunzipped)
            .unwrap();
        assert_eq!(unbrotlied, text.as_bytes());
        assert_eq!(gunzipped, text.as_bytes());
        assert!(brotli_size(&dir.join("app.js")).unwrap() < 100);
        assert!(!dir.join("icon.png.br").exists(), "not a compressible type");
        assert!(!dir.join("tiny.css.br").exists() && !dir.join("tiny.css.gz").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
