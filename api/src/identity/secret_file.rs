//! Server-owned secret files under the data directory: created once,
//! atomically, readable by the owner only (0600).

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::IdentityError;

/// Read `path`, or, when it does not exist, create it with `make()`'s bytes
/// and mode 0600 and return those. Creation is atomic and never overwrites:
/// the bytes go to a temporary file that is hard-linked into place, so a
/// concurrent opener sees either no file or the whole file, and if two race
/// both end up with the same (first) content.
pub(crate) fn read_or_create(
    path: &Path,
    make: impl FnOnce() -> Result<Vec<u8>, IdentityError>,
) -> Result<Vec<u8>, IdentityError> {
    match fs::read(path) {
        Ok(bytes) => {
            warn_if_readable_by_others(path);
            return Ok(bytes);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IdentityError::io(path)(e)),
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(IdentityError::io(dir))?;
    let bytes = make()?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("secret");
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{file_name}.{}-{unique}.tmp", std::process::id()));
    let written = write_private(&tmp, &bytes).and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            sync_dir(dir);
            Ok(bytes)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => fs::read(path).map_err(IdentityError::io(path)),
        Err(e) => Err(IdentityError::io(path)(e)),
    }
}

/// Write `bytes` to a new file with mode 0600 and flush it to disk.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Make the new directory entry durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Log a warning when a secret file can be read by the group or others.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "secret file is accessible by other users; chmod 600 it");
        }
    }
}
