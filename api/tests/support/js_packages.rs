//! The npm packages of `api/tests/js` (the official atproto clients), for
//! tests that run node scripts against the server. Installed with `npm ci`
//! when missing; when that is impossible a test fails in CI and is skipped
//! (with a message) otherwise.

use std::path::PathBuf;
use std::process::Command;

/// Whether `CI` is set (to anything but empty or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// `api/tests/js`.
pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Make sure `node_modules` holds every package in `packages` (e.g.
/// `@atproto/api`), running `npm ci` when one is missing. False (after
/// deciding skip vs. fail for `what`) when it cannot be installed.
pub fn ensure_packages(packages: &[&str], what: &str) -> bool {
    if packages.iter().all(|p| js_dir().join("node_modules").join(p).is_dir()) {
        return true;
    }
    let why = match Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(js_dir()).status() {
        Ok(status) if status.success() => return true,
        Ok(status) => format!("npm ci failed ({status})"),
        Err(e) => format!("npm is not available ({e})"),
    };
    if in_ci() {
        panic!("{why}: {what} must run in CI");
    }
    eprintln!("{why}: skipping {what}");
    false
}

/// Whether node runs here; when not, fails in CI and returns false (skip) otherwise.
pub fn node_available(what: &str) -> bool {
    if Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    if in_ci() {
        panic!("node is not installed: {what} must run in CI");
    }
    eprintln!("node is not installed: skipping {what}");
    false
}

/// Run `node <script> <args…>` in `api/tests/js` off the async runtime;
/// panics (with its output) unless it exits 0; returns its stdout.
pub async fn run_script(script: &str, args: Vec<String>) -> String {
    let name = script.to_string();
    let output =
        tokio::task::spawn_blocking(move || Command::new("node").arg(&name).args(&args).current_dir(js_dir()).output())
            .await
            .expect("join")
            .unwrap_or_else(|e| panic!("cannot run node {script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node {script} failed ({}):\n{stdout}\n{stderr}", output.status);
    stdout
}
