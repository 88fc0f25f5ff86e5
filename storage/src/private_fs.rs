//! Files and directories only the server's own user may read: the
//! directories the storage creates get mode 0700, its files 0600 (SQLite
//! databases, whose `-wal` and `-shm` files SQLite creates with the
//! database file's mode, and blobs). The modes are asked for at creation,
//! not set after, so no file is readable by others even for a moment.
//! Elsewhere than on Unix the platform's defaults apply.

use std::io;
use std::path::Path;

/// Mode of the directories the storage creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files the storage creates.
pub const FILE_MODE: u32 = 0o600;

/// Create `path` and its missing parents, each new one with mode 0700
/// (existing ones are left as they are; see [`restrict_dir`]).
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(DIR_MODE);
    }
    builder.create(path)
}

/// [`create_dir_all`] for async code.
pub async fn create_dir_all_async(path: &Path) -> io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(DIR_MODE);
    builder.create(path).await
}

/// Take the group's and others' access away from the existing directory
/// `path` (one made by an older version with the default 0755), so what
/// is under it is private whatever its own mode.
pub fn restrict_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Options that create a file with mode 0600 (write access; add the rest).
pub fn file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(FILE_MODE);
    }
    options
}

/// [`file_options`] for async code.
pub fn file_options_async() -> tokio::fs::OpenOptions {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    options.mode(FILE_MODE);
    options
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn modes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let deep = dir.path().join("a/b");
        create_dir_all(&deep).expect("create");
        assert_eq!((mode(&dir.path().join("a")), mode(&deep)), (0o700, 0o700));
        let deep = dir.path().join("c/d");
        create_dir_all_async(&deep).await.expect("create");
        assert_eq!((mode(&dir.path().join("c")), mode(&deep)), (0o700, 0o700));
        let file = dir.path().join("f");
        file_options().create_new(true).open(&file).expect("create");
        assert_eq!(mode(&file), 0o600);
        let file = dir.path().join("g");
        file_options_async().create_new(true).open(&file).await.expect("create");
        assert_eq!(mode(&file), 0o600);
        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("create");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        restrict_dir(&open).expect("restrict");
        assert_eq!(mode(&open), 0o700);
    }
}
