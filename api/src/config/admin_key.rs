//! The admin key of a start without configuration: generated once into
//! `<dataDir>/admin.key` (mode 0600), read from there on later starts.
//!
//! The key is written to a temporary file first and hard-linked into place,
//! so `admin.key` is either absent or complete, and two processes starting
//! at once agree on one key (the second link fails and that process reads
//! the first one's file).

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::load::ConfigError;
use crate::secret::Secret;

/// The file name under the data directory.
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// Random bytes of a generated key (64 hex characters).
const KEY_BYTES: usize = 32;

/// The stored key, or a new one (returned a second time as `Some` so the
/// caller can show it once).
pub fn read_or_generate(data_dir: &Path) -> Result<(Secret, Option<Secret>), ConfigError> {
    let path = data_dir.join(ADMIN_KEY_FILE);
    let fail = |reason: String| ConfigError::AdminKeyFile { path: path.clone(), reason };
    if let Some(key) = read(&path)? {
        return Ok((key, None));
    }
    create_private_dir(data_dir).map_err(|e| fail(format!("cannot create {}: {e}", data_dir.display())))?;
    let key = Secret::random_hex(KEY_BYTES).map_err(|e| fail(format!("no randomness: {e}")))?;
    let tmp = data_dir.join(format!("{ADMIN_KEY_FILE}.{}.tmp", std::process::id()));
    // A leftover of a crashed start may hold other permissions: start afresh.
    let _ = fs::remove_file(&tmp);
    let linked = write_private(&tmp, key.expose()).and_then(|()| fs::hard_link(&tmp, &path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(data_dir);
            Ok((key.clone(), Some(key)))
        }
        // Another process generated it at the same moment: use theirs.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => match read(&path)? {
            Some(key) => Ok((key, None)),
            None => Err(fail("vanished while being created".into())),
        },
        Err(e) => Err(fail(format!("cannot write: {e}"))),
    }
}

/// The key in `path`; `None` when the file does not exist.
fn read(path: &Path) -> Result<Option<Secret>, ConfigError> {
    let fail = |reason: String| ConfigError::AdminKeyFile { path: path.to_path_buf(), reason };
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(format!("cannot read: {e}"))),
    };
    let key = text.trim();
    if key.is_empty() {
        return Err(fail("is empty; delete it to have a new key generated".into()));
    }
    warn_if_readable_by_others(path);
    Ok(Some(Secret::new(key)))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the admin key file is readable by others; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Create the new file `path` readable and writable by the owner only, holding `content`
/// and a newline, flushed to disk.
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(content.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// `mkdir -p` with mode 0700 for what it creates.
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Make a new directory entry durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Where the key is kept for a data directory.
pub fn admin_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ADMIN_KEY_FILE)
}
