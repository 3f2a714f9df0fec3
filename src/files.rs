//! Files the native engine writes, written so that nothing is lost: an output is checked
//! (directory, format, no unwanted replacement, writable) before any work starts, and written
//! through a temporary file in the same directory that is renamed into place, so a failure or
//! an interruption never leaves a partial, empty or truncated file where the user looks.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// An I/O error about `path`, with the system's message and `advice`.
pub fn io_error(path: &Path, e: impl std::fmt::Display, advice: &str) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: if advice.is_empty() {
            e.to_string()
        } else {
            format!("{e}; {advice}")
        },
    }
}

/// The directory a file goes into (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks, before any work, that `path` can be written: its directory exists and accepts new
/// files, it is not a directory, and it does not exist unless `replace`. Nothing is left
/// behind by the check.
pub fn check_writable(path: &Path, replace: bool) -> Result<()> {
    if path.is_dir() {
        return Err(io_error(path, "is a directory", "give a file name"));
    }
    if path.exists() && !replace {
        return Err(io_error(
            path,
            "already exists",
            "pass --force to replace it, or choose another name",
        ));
    }
    check_dir_writable(&parent_dir(path))
}

/// Checks that `dir` exists and takes new files; nothing is left behind by the check.
pub fn check_dir_writable(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(io_error(
            dir,
            "no such directory",
            "create it first, or write somewhere else",
        ));
    }
    // The one sure test of writability: make (and at once remove) a file there.
    temp_in(dir, Path::new("probe")).map(drop)
}

/// A new temporary file beside `target`, hidden and named after it, with the permissions
/// the target has (or, for a new file, those any new file gets: 0666 less the umask, not the
/// 0600 of temporary files).
fn temp_in(dir: &Path, target: &Path) -> Result<tempfile::NamedTempFile> {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let permissions = match std::fs::metadata(target) {
        Ok(m) => m.permissions(),
        Err(_) => new_file_permissions(),
    };
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .permissions(permissions)
        .tempfile_in(dir)
        .map_err(|e| io_error(dir, e, "check that the directory exists and is writable"))
}

#[cfg(unix)]
fn new_file_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    // The mode is given to open(2), which applies the umask.
    std::fs::Permissions::from_mode(0o666)
}

#[cfg(not(unix))]
fn new_file_permissions() -> std::fs::Permissions {
    tempfile::tempfile()
        .and_then(|f| f.metadata())
        .map(|m| m.permissions())
        .expect("a temporary file can be made")
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over `path`. Without `replace`, an existing `path` is an error (even one
/// that appeared since [`check_writable`]).
pub fn write_atomic(path: &Path, bytes: &[u8], replace: bool) -> Result<()> {
    let mut file = AtomicFile::create(path, replace)?;
    file.write_all(bytes)
        .map_err(|e| io_error(path, e, "nothing was written there"))?;
    file.commit()
}

/// A file written in pieces (a log, a checkpoint) that appears at `path` only when
/// [`AtomicFile::commit`] is called; dropped without a commit, it leaves nothing behind.
pub struct AtomicFile {
    path: PathBuf,
    replace: bool,
    temp: std::io::BufWriter<tempfile::NamedTempFile>,
}

impl AtomicFile {
    /// Starts the file (checks `path` as [`check_writable`] does).
    pub fn create(path: &Path, replace: bool) -> Result<Self> {
        check_writable(path, replace)?;
        Ok(Self {
            path: path.to_path_buf(),
            replace,
            temp: std::io::BufWriter::new(temp_in(&parent_dir(path), path)?),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file to disk and renames it into place.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        let temp = self
            .temp
            .into_inner()
            .map_err(|e| io_error(&path, e.error(), "nothing was written there"))?;
        temp.as_file()
            .sync_all()
            .map_err(|e| io_error(&path, e, "nothing was written there"))?;
        let persisted = if self.replace {
            temp.persist(&path).map(drop)
        } else {
            temp.persist_noclobber(&path).map(drop)
        };
        persisted.map_err(|e| {
            io_error(
                &path,
                e.error,
                "nothing was written there (pass --force to replace an existing file)",
            )
        })
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_appears_whole_and_nothing_else_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_atomic(&p, b"hello", false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_get_ordinary_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_atomic(&p, b"x", false).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_ne!(mode, 0o600, "a result is not a private temporary file");
        assert_eq!(mode & 0o600, 0o600);
    }

    #[test]
    fn an_existing_file_is_kept_unless_replace() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        std::fs::write(&p, b"precious").unwrap();
        let e = write_atomic(&p, b"new", false).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"precious");
        write_atomic(&p, b"new", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }

    #[test]
    fn an_uncommitted_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.json");
        let mut f = AtomicFile::create(&p, false).unwrap();
        f.write_all(b"{}\n").unwrap();
        drop(f);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn unwritable_places_are_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir/out.png");
        let e = check_writable(&missing, false).unwrap_err().to_string();
        assert!(e.contains("no such directory"), "{e}");
        let e = check_writable(dir.path(), true).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
