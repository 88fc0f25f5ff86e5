//! The Traefik dynamic configuration: one YAML file,
//! `<traefikConfigDir>/primal-pds.yml`, routing every active hosted domain
//! and all its subdomains to primal-pds (the layout of the Go version, with
//! valid YAML).
//!
//! Per active domain `d`, a router `primal-pds-<d with . and _ as ->`:
//! rule ``Host(`d`) || HostRegexp(`^.+\.d$`)`` (Traefik v3 syntax), the
//! configured entry point (`https`), TLS from the configured resolver
//! (`letsencrypt-dns`) for `d` and `*.d`, service `primal-pds`. The service
//! is a load balancer with one server (`http://primal-pds:3000`).
//!
//! Tricky bits:
//! - The Go version wrote the rule in a double-quoted YAML string with `\.`
//!   inside, an escape YAML does not have. Strings here are single-quoted,
//!   where a backslash is an ordinary character.
//! - `a-b.com` and `a.b.com` give the same router name; when names collide,
//!   every colliding router gets `-` + 12 hex digits of its domain's SHA-256.
//! - The file is written to `primal-pds.yml.tmp`, flushed, and renamed over
//!   the old one, so Traefik never reads half a file; with no active domain
//!   the file is removed (Traefik drops the routers).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use primal_pds_storage::{DomainName, StorageError, TenantBackend, TenantStatus};
use sha2::{Digest, Sha256};

use crate::config::TraefikConfig;
use crate::state::AppState;

/// The file name under `traefikConfigDir`.
pub const FILE_NAME: &str = "primal-pds.yml";
/// The temporary file renamed over [`FILE_NAME`].
pub const TMP_FILE_NAME: &str = "primal-pds.yml.tmp";
/// The Traefik service every router points at.
pub const SERVICE_NAME: &str = "primal-pds";
/// Prefix of the router names.
pub const ROUTER_PREFIX: &str = "primal-pds-";

/// Writes the dynamic configuration file. Cheap to clone (clones share the
/// locks that serialize writes).
#[derive(Debug, Clone)]
pub struct TraefikWriter {
    config: TraefikConfig,
    /// Held while the file is written (one temporary file name).
    file_lock: Arc<Mutex<()>>,
    /// Held from listing the domains to writing them, so an older list is
    /// never written after a newer one.
    sync_lock: Arc<tokio::sync::Mutex<()>>,
}

impl TraefikWriter {
    /// A writer for this configuration.
    pub fn new(config: TraefikConfig) -> TraefikWriter {
        TraefikWriter { config, file_lock: Arc::default(), sync_lock: Arc::default() }
    }

    /// `<traefikConfigDir>/primal-pds.yml`.
    pub fn path(&self) -> PathBuf {
        self.config.dir.join(FILE_NAME)
    }

    /// The YAML for these domains (duplicates ignored, sorted by name).
    pub fn render(&self, active_domains: &[DomainName]) -> String {
        let c = &self.config;
        let mut out = String::from(
            "# Written by primal-pds after every domain change; edits are overwritten.\nhttp:\n  routers:\n",
        );
        for (name, domain) in router_names(active_domains) {
            let d = domain.as_str();
            // Writing to a String cannot fail. Router names are `a-z 0-9 -`
            // only (a DomainName's characters), plain YAML keys.
            let _ = write!(
                out,
                "    {name}:\n      rule: {rule}\n      entryPoints:\n        - {entry}\n      service: {SERVICE_NAME}\n      tls:\n        certResolver: {resolver}\n        domains:\n          - main: {main}\n            sans:\n              - {sans}\n",
                rule = yaml_str(&host_rule(&domain)),
                entry = yaml_str(&c.entry_point),
                resolver = yaml_str(&c.cert_resolver),
                main = yaml_str(d),
                sans = yaml_str(&format!("*.{d}")),
            );
        }
        let _ = write!(
            out,
            "  services:\n    {SERVICE_NAME}:\n      loadBalancer:\n        servers:\n          - url: {}\n",
            yaml_str(&c.service_url)
        );
        out
    }

    /// Write the file for `active_domains` (temporary file, then rename), or
    /// remove it when the list is empty.
    pub fn write(&self, active_domains: &[DomainName]) -> io::Result<()> {
        let _guard = self.file_lock.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.path();
        let tmp = self.config.dir.join(TMP_FILE_NAME);
        if active_domains.is_empty() {
            remove_if_present(&tmp)?;
            remove_if_present(&path)?;
        } else {
            let yaml = self.render(active_domains);
            if let Err(e) = write_then_rename(&tmp, &path, yaml.as_bytes()) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
        sync_dir(&self.config.dir);
        Ok(())
    }
}

fn write_then_rename(tmp: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = std::fs::File::create(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, path)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Make the rename or removal durable (best effort: some file systems
/// cannot open a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The Traefik v3 rule matching `domain` and every subdomain:
/// ``Host(`d`) || HostRegexp(`^.+\.d$`)``.
pub fn host_rule(domain: &DomainName) -> String {
    let d = domain.as_str();
    format!("Host(`{d}`) || HostRegexp(`^.+\\.{}$`)", regex_escape(d))
}

/// Backslash before every regular-expression metacharacter.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Router names of the distinct domains, sorted by router name:
/// `primal-pds-` + the domain with `.` and `_` as `-`; names that several
/// domains share get `-` + 12 hex digits of the domain's SHA-256.
pub fn router_names(domains: &[DomainName]) -> BTreeMap<String, DomainName> {
    let distinct: BTreeSet<&DomainName> = domains.iter().collect();
    let plain = |d: &DomainName| format!("{ROUTER_PREFIX}{}", d.as_str().replace(['.', '_'], "-"));
    let mut uses: BTreeMap<String, usize> = BTreeMap::new();
    for d in &distinct {
        *uses.entry(plain(d)).or_default() += 1;
    }
    distinct
        .into_iter()
        .map(|d| {
            let name = plain(d);
            if uses.get(&name).copied().unwrap_or(0) > 1 {
                let hash: String =
                    Sha256::digest(d.as_str().as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect();
                (format!("{name}-{hash}"), d.clone())
            } else {
                (name, d.clone())
            }
        })
        .collect()
}

/// A YAML scalar for `s`: single-quoted (backslashes stay literal, `'` is
/// doubled); strings with control characters fall back to a JSON string,
/// which is also a valid YAML double-quoted scalar.
fn yaml_str(s: &str) -> String {
    if s.chars().any(char::is_control) {
        return serde_json::to_string(s).unwrap_or_else(|_| "''".into());
    }
    format!("'{}'", s.replace('\'', "''"))
}

/// Why the Traefik file could not be brought up to date.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraefikSyncError {
    /// The hosted domains could not be listed.
    #[error("listing the hosted domains: {0}")]
    Storage(#[from] StorageError),
    /// The file could not be written or removed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl AppState {
    /// Rewrite the Traefik file from the backend's active domains (call
    /// after every domain change and at start-up). Does nothing without
    /// `traefikConfigDir`. Errors are logged and returned.
    pub async fn sync_traefik(&self) -> Result<(), TraefikSyncError> {
        let Some(writer) = &self.traefik else {
            return Ok(());
        };
        let _ordered = writer.sync_lock.lock().await;
        let result = async {
            let active: Vec<DomainName> = self
                .backend
                .list_tenants()
                .await?
                .into_iter()
                .filter(|t| t.status == TenantStatus::Active)
                .map(|t| t.domain)
                .collect();
            let count = active.len();
            let path = writer.path();
            let w = writer.clone();
            tokio::task::spawn_blocking(move || w.write(&active))
                .await
                .map_err(io::Error::other)
                .and_then(|r| r)
                .map_err(|source| TraefikSyncError::Write { path: path.clone(), source })?;
            tracing::info!(path = %path.display(), domains = count, "Traefik configuration updated");
            Ok(())
        }
        .await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "Traefik configuration not updated");
        }
        result
    }
}
