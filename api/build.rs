//! Embeds the Lexicon schemas of `lexicons/` (copied there by `scripts/sync-lexicons`): writes
//! `$OUT_DIR/lexicons.rs`, a sorted list of `(relative path, include_str!(file))` pairs that
//! `src/lexicons.rs` includes.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("lexicons");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files)?;
    files.sort();
    let mut out = String::from("/// Every embedded schema: its path under `api/lexicons/` and its JSON text.\n");
    out.push_str("pub(crate) const EMBEDDED: &[(&str, &str)] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(&root)?.to_str().ok_or("non-UTF-8 schema path")?.replace('\\', "/");
        let absolute = file.to_str().ok_or("non-UTF-8 schema path")?;
        writeln!(out, "    ({relative:?}, include_str!({absolute:?})),")?;
    }
    out.push_str("];\n");
    std::fs::write(PathBuf::from(std::env::var("OUT_DIR")?).join("lexicons.rs"), out)?;
    Ok(())
}

/// Every `*.json` file under `dir`, recursively.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    Ok(())
}
