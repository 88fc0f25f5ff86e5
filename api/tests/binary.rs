//! The `primal-pds` binary as a real process: a start without any
//! configuration (SQLite under ./data, the admin key printed once and kept
//! in data/admin.key), `/xrpc/_health` over HTTP, graceful exit on SIGTERM;
//! a bad configuration stops it with the field named; `--help`.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_primal-pds");
const WAIT: Duration = Duration::from_secs(60);

/// The binary in `dir` with no inherited PRIMAL_PDS_* variable.
fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env("RUST_LOG", "info").env("NO_COLOR", "1");
    for (name, _) in std::env::vars() {
        if name.starts_with("PRIMAL_PDS_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

fn strip_ansi(s: &str) -> String {
    regex::Regex::new("\x1b\\[[0-9;]*m").unwrap().replace_all(s, "").into_owned()
}

/// A running server: its stdout lines so far, and its address.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    addr: String,
}

fn start(dir: &Path) -> Running {
    let mut child = command(dir)
        .env("PRIMAL_PDS_LISTEN_ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    for stream in
        [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(strip_ansi(&line));
            }
        });
    }
    let listening = regex::Regex::new(
        r"addr=(127\.0\.0\.1:\d+).*primal-pds listening|primal-pds listening.*addr=(127\.0\.0\.1:\d+)",
    )
    .unwrap();
    let mut stdout = Vec::new();
    loop {
        let Ok(line) = lines.recv_timeout(WAIT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no `listening` line; output: {stdout:#?}");
        };
        stdout.push(line.clone());
        if let Some(c) = listening.captures(&line) {
            let addr = c.get(1).or_else(|| c.get(2)).unwrap().as_str().to_string();
            return Running { child, lines, stdout, addr };
        }
    }
}

impl Running {
    /// SIGTERM, then the exit status and the rest of the output.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(self.child.wait());
        });
        let status = rx.recv_timeout(WAIT).expect("exits after SIGTERM").unwrap();
        self.stdout.extend(self.lines.try_iter());
        (status, self.stdout)
    }
}

fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn zero_configuration_start_serves_and_prints_the_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let health = get(&server.addr, "/xrpc/_health");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains(&format!("\"version\":\"{}\"", primal_pds_api::VERSION)), "{health}");
    let (status, output) = server.terminate();
    assert!(status.success(), "{status:?}: {output:#?}");

    let key = std::fs::read_to_string(dir.path().join("data/admin.key")).unwrap().trim().to_string();
    assert_eq!(key.len(), 64);
    let shown = output.iter().filter(|l| l.contains(&key)).count();
    assert_eq!(shown, 1, "the key is printed exactly once: {output:#?}");
    assert!(output.iter().any(|l| l.contains("storage: SQLite")), "{output:#?}");

    // The second start reads the file and does not show the key again.
    let server = start(dir.path());
    let (status, output) = server.terminate();
    assert!(status.success());
    assert!(!output.iter().any(|l| l.contains(&key)), "{output:#?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("data/admin.key")).unwrap().trim(), key);
}

#[test]
fn a_bad_configuration_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("my.json"), r#"{"adminKey": "k", "listenAddr": "3000"}"#).unwrap();
    let out = command(dir.path()).args(["--config", "my.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = strip_ansi(&String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains("listenAddr") && stderr.contains("PRIMAL_PDS_LISTEN_ADDR"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing created on a bad configuration");

    // The default db.json is found in the working directory, and a file without adminKey is refused.
    std::fs::write(dir.path().join("db.json"), r#"{"listenAddr": ":0"}"#).unwrap();
    let out = command(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("adminKey"));

    let out = command(dir.path()).arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--config PATH") && text.contains("PRIMAL_PDS_ADMIN_KEY"), "{text}");
    let out = command(dir.path()).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("primal-pds {}", primal_pds_api::VERSION));
}
