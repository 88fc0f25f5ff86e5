//! A real `did:plc` directory for tests: the reference `@did-plc/server`
//! over its in-memory database, spawned with node on a free port of
//! 127.0.0.1 (`api/tests/plc/server.js`, or `$PRIMAL_PDS_PLC_SERVER_JS` as
//! set by `scripts/test`, which installs it with `npm ci`). Without node or
//! the launcher a test fails when `CI` is set and is skipped otherwise.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running directory; killed on drop.
pub struct PlcDirectory {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Drop for PlcDirectory {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The launcher, or `None` (after deciding skip vs. fail) when it cannot run here.
fn launcher() -> Option<PathBuf> {
    let path = std::env::var_os("PRIMAL_PDS_PLC_SERVER_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/plc/server.js"));
    let installed = path.parent().is_some_and(|dir| dir.join("node_modules/@did-plc/server").is_dir());
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if path.is_file() && installed && node {
        return Some(path);
    }
    let why = format!(
        "the PLC directory cannot run (launcher {}: exists {}, node_modules installed {installed}, node {node}); \
         run the test through `scripts/test`, or `npm ci` in api/tests/plc",
        path.display(),
        path.is_file()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// Start a directory (it prints `listening <port>` once it accepts
/// connections), or `None` when it cannot run here and `CI` is not set.
pub fn start_directory() -> Option<PlcDirectory> {
    let script = launcher()?;
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node {}: {e}", script.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let mut directory = PlcDirectory { child, url: String::new() };
    let line = rx.recv_timeout(Duration::from_secs(60)).expect("the PLC directory did not start within 60 s");
    let port: u16 = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from the PLC directory: {line:?}"));
    directory.url = format!("http://127.0.0.1:{port}");
    Some(directory)
}
