//! Crash-safe file replacement and directory durability: the only code here that calls fsync.
//!
//! A file is replaced by writing `<name>.tmp`, fsyncing it, and renaming it over `<name>`.
//! `rename` within one directory is atomic on POSIX filesystems, so a reader (or a restart after
//! a crash) sees either the old file or the complete new one. The rename itself only becomes
//! durable once the directory is fsynced, which callers batch with [`sync_dir`] so that saving
//! many tiles costs one directory fsync, not one per tile.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::StorageError;

/// Suffix of files being written. Anything ending in it is garbage from an interrupted write.
pub const TMP_SUFFIX: &str = ".tmp";

fn io_error(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> StorageError {
    move |source| StorageError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// `path` with [`TMP_SUFFIX`] appended to its file name.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(TMP_SUFFIX);
    PathBuf::from(name)
}

/// Replaces `path` with `bytes` via a fsynced temporary file and a rename. The new contents are
/// durable, but the rename is not until the parent directory is fsynced with [`sync_dir`].
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let tmp = tmp_path(path);
    let written = write_and_sync(&tmp, bytes).and_then(|()| {
        fs::rename(&tmp, path).map_err(io_error(path, "rename a temporary file over"))
    });
    if written.is_err() {
        // Best effort: a leftover .tmp is harmless (load ignores and removes it), so a failure
        // to remove it must not hide the error that matters.
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Replaces `path` and makes the replacement durable at once: for single files like the manifest.
pub fn replace_file_durably(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    replace_file(path, bytes)?;
    sync_dir(parent_of(path))
}

/// Writes `bytes` to `path` (truncating it) without syncing: for files made durable together by
/// [`FilesystemSync`] before anything depends on them.
pub fn write_unsynced(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    create_and_write(path, bytes).map(drop)
}

fn create_and_write(path: &Path, bytes: &[u8]) -> Result<File, StorageError> {
    // `create` truncates, so a .tmp left by an earlier crash is simply overwritten.
    let mut file = File::create(path).map_err(io_error(path, "create"))?;
    file.write_all(bytes).map_err(io_error(path, "write"))?;
    Ok(file)
}

/// Makes a batch of files written with [`write_unsynced`] durable with one `syncfs` of the
/// filesystem holding `dir`: far cheaper than an fsync per file when a snapshot pass writes tens
/// of thousands of them. `begin` must come before the first of the files is written: Linux
/// reports to `syncfs` the writeback errors recorded since its handle was opened (from kernel
/// 5.8; older kernels report none to `syncfs`). Elsewhere `finish` fsyncs each file instead.
pub struct FilesystemSync {
    #[cfg(target_os = "linux")]
    handle: File,
    dir: PathBuf,
}

impl FilesystemSync {
    pub fn begin(dir: &Path) -> Result<Self, StorageError> {
        Ok(Self {
            #[cfg(target_os = "linux")]
            handle: File::open(dir).map_err(io_error(dir, "open"))?,
            dir: dir.to_owned(),
        })
    }

    pub fn finish<'a>(self, files: impl IntoIterator<Item = &'a Path>) -> Result<(), StorageError> {
        #[cfg(target_os = "linux")]
        {
            let _ = files;
            rustix::fs::syncfs(&self.handle)
                .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
                .map_err(io_error(&self.dir, "syncfs the filesystem of"))
        }
        #[cfg(not(target_os = "linux"))]
        {
            for path in files {
                File::options()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.sync_all())
                    .map_err(io_error(path, "fsync"))?;
            }
            Ok(())
        }
    }
}

fn write_and_sync(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    create_and_write(path, bytes)?
        .sync_all()
        .map_err(io_error(path, "fsync"))
}

/// Makes the entries of `dir` (created, renamed or removed files) durable.
pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    // POSIX lets a directory be opened read-only and fsynced; that is how a rename is persisted.
    // Windows cannot open directories this way, but there NTFS journals renames itself.
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir, "fsync directory"))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates `dir` and any missing ancestors, fsyncing each parent after a child is created so
/// the new directories survive a crash (otherwise files fsynced inside them could vanish).
pub fn create_dir_durably(dir: &Path) -> Result<(), StorageError> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.is_dir())
        .collect();
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => {}
            // Someone else created it in between: fine, it exists, and it is theirs to sync.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => continue,
            Err(source) => {
                return Err(StorageError::Io {
                    path: d.to_owned(),
                    action: "create directory",
                    source,
                });
            }
        }
        sync_dir(parent_of(d))?;
    }
    Ok(())
}

/// The directory holding `path`; `.` for a bare relative name.
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_overwrites_and_leaves_no_tmp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.bin");
        replace_file_durably(&path, b"old").expect("first write");
        fs::write(tmp_path(&path), b"stale garbage from a crash").expect("plant tmp");
        replace_file_durably(&path, b"new").expect("second write");
        assert_eq!(fs::read(&path).expect("read"), b"new");
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn creates_nested_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nested = dir.path().join("a").join("b").join("c");
        create_dir_durably(&nested).expect("create");
        assert!(nested.is_dir());
        create_dir_durably(&nested).expect("create again is a no-op");
    }

    #[test]
    fn errors_name_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-such-dir").join("a.bin");
        let err = replace_file(&path, b"x").expect_err("parent is missing");
        assert!(err.to_string().contains("no-such-dir"), "{err}");
    }
}
