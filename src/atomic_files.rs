//! Files and directories that appear complete or not at all: everything is written under a
//! temporary sibling name, synced, then renamed into place.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `path` through `write`, atomically: into a temporary sibling first, renamed over
/// `path` only when `write` succeeded and the data is on disk. On failure the temporary file is
/// removed and `path` is untouched.
///
/// A `path` that exists and is not a regular file (`/dev/null`, `/dev/stdout`, a FIFO) is
/// written directly: renaming over a device would replace it, and a stream has no
/// "complete or absent" to offer.
pub fn write_file_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<fs::File>) -> Result<T>,
) -> Result<T> {
    let direct = fs::metadata(path).is_ok_and(|m| !m.is_file());
    let name = path
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let target = if direct {
        path.to_path_buf()
    } else {
        path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
    };
    let result = (|| {
        let file = if direct {
            fs::OpenOptions::new().write(true).open(&target)
        } else {
            fs::File::create(&target)
        }
        .map_err(|e| Error::io(&target, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let value = write(&mut w)?;
        let file = w
            .into_inner()
            .map_err(|e| Error::io(&target, e.into_error()))?;
        if !direct {
            file.sync_all().map_err(|e| Error::io(&target, e))?;
            fs::rename(&target, path).map_err(|e| Error::io(path, e))?;
        }
        Ok(value)
    })();
    if result.is_err() && !direct {
        let _ = fs::remove_file(&target);
    }
    result
}

/// A fresh, empty sibling directory of `dest` to assemble an artifact in.
pub fn staging_dir(dest: &Path) -> Result<PathBuf> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "detector".into());
    remove_abandoned_staging(&parent, &name);
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
    Ok(staging)
}

/// Removes what saves killed mid-way left beside `name`: staging directories of processes that
/// no longer run. Only where that can be told (Linux, through /proc); a running save's
/// directory is never touched.
fn remove_abandoned_staging(parent: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{name}.partial-");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let pid = rest.strip_suffix(".old").unwrap_or(rest);
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Moves a completely written staging directory to `dest`, replacing what was there. On Linux
/// the two are exchanged in one atomic step, so `dest` is at every moment the old directory or
/// the new one; elsewhere it may also be briefly absent, but never half-written.
pub fn publish_dir(staging: &Path, dest: &Path) -> Result<()> {
    if let Ok(d) = fs::File::open(staging) {
        let _ = d.sync_all();
    }
    if dest.exists() && exchange(staging, dest).is_ok() {
        // `dest` went from old to new in one step; the old one is now at `staging`.
        fs::remove_dir_all(staging).map_err(|e| Error::io(staging, e))?;
    } else if dest.exists() {
        // No atomic exchange here (not Linux, or a filesystem without it): `dest` is briefly
        // absent between the two renames, never half-written.
        let old = staging.with_extension("old");
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        fs::rename(dest, &old).map_err(|e| Error::io(dest, e))?;
        fs::rename(staging, dest).map_err(|e| Error::io(dest, e))?;
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    } else {
        fs::rename(staging, dest).map_err(|e| Error::io(dest, e))?;
    }
    if let Some(parent) = dest.parent()
        && let Ok(d) = fs::File::open(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        })
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Swaps two paths in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}
