//! Blobs as files: `blobs/<id[0..2]>/<id[2..4]>/<id>`, written to `blobs/tmp/<random>.tmp`
//! first, then renamed. A writer holds an exclusive `flock` on the file from creation until its
//! record is committed ([`BlobGuard`]); cleanup only removes files whose lock it can take, so a
//! write in flight in another process is never mistaken for a leftover, and a dead writer's
//! lock is gone with it.
//!
//! Blob ids are checked against their exact shape before any path is built, so no id (even one
//! read from a tampered database) can name a file outside the blob tree. Directories on the
//! way are never followed through symbolic links.

use super::{BlobFile, BlobGuard, BlobStore};
use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

pub struct FsBlobs {
    root: PathBuf,
}

/// True for the ids this store writes: 64 hex (key hash), '.', 16 hex (write nonce).
pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 81
        && b[64] == b'.'
        && b[..64].iter().chain(&b[65..]).all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

fn valid_tmp_name(name: &str) -> bool {
    name.len() == 36 && name.ends_with(".tmp") && name[..32].bytes().all(|c| c.is_ascii_hexdigit())
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::Rng::fill(&mut rand::thread_rng(), &mut buf[..]);
    hex::encode(buf)
}

/// A fresh blob id for data of the entry whose key hash is `key_hash` (64 hex).
pub fn new_id(key_hash: &str) -> String {
    format!("{key_hash}.{}", random_hex(8))
}

impl FsBlobs {
    /// Opens the blob tree under `root` (created if missing).
    pub fn open(root: &Path) -> Result<Self> {
        let store = FsBlobs { root: root.to_path_buf() };
        store.real_dir(&store.root)?;
        store.real_dir(&store.root.join("tmp"))?;
        Ok(store)
    }

    /// Creates `dir` if needed and checks it is a real directory, not a link to elsewhere.
    fn real_dir(&self, dir: &Path) -> Result<()> {
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(format!("cannot create {}: {e}", dir.display()))),
        }
        let meta = fs::symlink_metadata(dir)?;
        if !meta.file_type().is_dir() {
            return Err(Error::corrupt(format!("{} is not a directory (a link or a file)", dir.display())));
        }
        Ok(())
    }

    fn dir_of(&self, id: &str) -> PathBuf {
        self.root.join(&id[0..2]).join(&id[2..4])
    }

    fn path(&self, id: &str) -> Result<PathBuf> {
        if !valid_id(id) {
            return Err(Error::corrupt(format!("invalid blob id {id:?}")));
        }
        Ok(self.dir_of(id).join(id))
    }

    /// Checks `dir` is a real directory (not a link); `Ok(false)` if it does not exist.
    fn is_real_dir(dir: &Path) -> Result<bool> {
        match fs::symlink_metadata(dir) {
            Ok(m) if m.file_type().is_dir() => Ok(true),
            Ok(_) => Err(Error::corrupt(format!("{} is not a directory (a link or a file)", dir.display()))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The blob tree and the two fan-out directories of `id` are real directories, checked
    /// on every use: a link planted inside the cache directory is never followed.
    fn real_fanout(&self, id: &str) -> Result<bool> {
        let first = self.root.join(&id[0..2]);
        Ok(Self::is_real_dir(&self.root)? && Self::is_real_dir(&first)? && Self::is_real_dir(&first.join(&id[2..4]))?)
    }

    /// Opens a file of the tree for reading without following a link at its last component
    /// (and without blocking on a planted FIFO); it must be a regular file.
    fn open_nofollow(path: &Path) -> Result<Option<File>> {
        use std::os::unix::fs::OpenOptionsExt;
        match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path) {
            Ok(f) if f.metadata()?.file_type().is_file() => Ok(Some(f)),
            Ok(_) => Err(Error::corrupt(format!("{} is not a regular file", path.display()))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                Err(Error::corrupt(format!("{} is a symbolic link", path.display())))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The blob `id` opened for reading, or `None` if there is none.
    fn open_blob(&self, id: &str) -> Result<Option<File>> {
        let path = self.path(id)?;
        if !self.real_fanout(id)? {
            return Ok(None);
        }
        Self::open_nofollow(&path)
    }

    /// A file found by `walk`, opened again (it may be gone).
    fn open_walked(&self, file: &BlobFile) -> Result<Option<File>> {
        if file.temporary {
            if !Self::is_real_dir(&self.root)? || !Self::is_real_dir(&self.root.join("tmp"))? {
                return Ok(None);
            }
            Self::open_nofollow(&self.file_path(file)?)
        } else {
            self.open_blob(&file.id)
        }
    }

    fn ensure_dirs(&self, id: &str) -> Result<()> {
        if !Self::is_real_dir(&self.root)? {
            return Err(Error::corrupt(format!("{} is missing", self.root.display())));
        }
        let first = self.root.join(&id[0..2]);
        self.real_dir(&first)?;
        self.real_dir(&first.join(&id[2..4]))
    }

    /// Creates a locked temporary file and lets `fill` write it; then moves it to `id`.
    fn publish(&self, id: &str, durable: bool, fill: impl FnOnce(&Path, &mut File) -> Result<()>) -> Result<BlobGuard> {
        let dest = self.path(id)?;
        self.ensure_dirs(id)?;
        let (tmp, mut file) = self.locked_tmp()?;
        let result = fill(&tmp, &mut file).and_then(|()| {
            if durable {
                file.sync_all()?;
            }
            fs::rename(&tmp, &dest)?;
            if durable {
                File::open(dest.parent().unwrap_or(&self.root))?.sync_all()?;
            }
            Ok(())
        });
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(BlobGuard::file(file))
    }

    /// A new temporary file, locked. Between its creation and the lock, a cleanup in another
    /// process may take the file for a leftover and remove it: then try another name.
    fn locked_tmp(&self) -> Result<(PathBuf, File)> {
        // blobs/ and blobs/tmp may have been replaced by links since open: check every time.
        if !Self::is_real_dir(&self.root)? || !Self::is_real_dir(&self.root.join("tmp"))? {
            return Err(Error::corrupt(format!("{} or its tmp directory is missing", self.root.display())));
        }
        use std::os::unix::fs::MetadataExt;
        for _ in 0..16 {
            let tmp = self.root.join("tmp").join(format!("{}.tmp", random_hex(16)));
            let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.lock()?;
            let ours = file.metadata()?;
            match fs::symlink_metadata(&tmp) {
                Ok(m) if m.ino() == ours.ino() && m.dev() == ours.dev() => return Ok((tmp, file)),
                _ => continue,
            }
        }
        Err(Error::io("temporary blob files kept being removed by a concurrent cleanup"))
    }

    fn walk_dir(&self, dir: &Path, depth: usize, out: &mut Vec<BlobFile>) -> Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let kind = entry.file_type()?;
            if depth < 2 {
                let fan_ok = name.len() == 2 && name.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
                if kind.is_dir() && fan_ok {
                    self.walk_dir(&entry.path(), depth + 1, out)?;
                } else if depth == 0 && kind.is_dir() && name == "tmp" {
                    self.walk_tmp(&entry.path(), out)?;
                }
            } else if kind.is_file() && valid_id(name) && self.dir_of(name) == dir {
                let size = match entry.metadata() {
                    Ok(m) => m.len(),
                    Err(e) if e.kind() == ErrorKind::NotFound => continue, // removed meanwhile
                    Err(e) => return Err(e.into()),
                };
                out.push(BlobFile {
                    id: name.to_string(),
                    size,
                    temporary: false,
                    path: entry.path().display().to_string(),
                });
            }
        }
        Ok(())
    }

    fn file_path(&self, file: &BlobFile) -> Result<PathBuf> {
        if file.temporary {
            if !valid_tmp_name(&file.id) {
                return Err(Error::invalid("not a temporary file name of this store"));
            }
            Ok(self.root.join("tmp").join(&file.id))
        } else {
            self.path(&file.id)
        }
    }

    fn walk_tmp(&self, dir: &Path, out: &mut Vec<BlobFile>) -> Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if entry.file_type()?.is_file() && valid_tmp_name(name) {
                let size = match entry.metadata() {
                    Ok(m) => m.len(),
                    Err(e) if e.kind() == ErrorKind::NotFound => continue, // published or removed meanwhile
                    Err(e) => return Err(e.into()),
                };
                out.push(BlobFile {
                    id: name.to_string(),
                    size,
                    temporary: true,
                    path: entry.path().display().to_string(),
                });
            }
        }
        Ok(())
    }
}

impl BlobStore for FsBlobs {
    fn name(&self) -> &'static str {
        "fs"
    }

    fn put(&self, id: &str, data: &[u8], durable: bool) -> Result<BlobGuard> {
        self.publish(id, durable, |_, f| Ok(f.write_all(data)?))
    }

    fn get(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let Some(mut f) = self.open_blob(id)? else { return Ok(None) };
        let mut data = Vec::with_capacity(f.metadata()?.len() as usize);
        std::io::Read::read_to_end(&mut f, &mut data)?;
        Ok(Some(data))
    }

    fn size(&self, id: &str) -> Result<Option<u64>> {
        match self.open_blob(id)? {
            Some(f) => Ok(Some(f.metadata()?.len())),
            None => Ok(None),
        }
    }

    fn copy(&self, src: &str, dst: &str, durable: bool) -> Result<BlobGuard> {
        use std::os::unix::fs::MetadataExt;
        let from = self.path(src)?;
        let dest = self.path(dst)?;
        // The source must be one of our regular files, never a link to elsewhere.
        if self.open_blob(src)?.is_none() {
            return Err(Error::corrupt(format!("blob {src} is missing")));
        }
        self.ensure_dirs(dst)?;
        // Blob files never change once published, so a copy can share the file: a hard link
        // copies nothing. It is locked like a new file until its record commits; if a cleanup
        // removed it between link and lock, link again.
        for _ in 0..16 {
            match fs::hard_link(&from, &dest) {
                Ok(()) => {
                    let f = File::open(&dest)?;
                    f.lock()?;
                    let ours = f.metadata()?;
                    match fs::symlink_metadata(&dest) {
                        Ok(m) if m.ino() == ours.ino() && m.dev() == ours.dev() => {
                            if durable {
                                File::open(dest.parent().unwrap_or(&self.root))?.sync_all()?;
                            }
                            return Ok(BlobGuard::file(f));
                        }
                        _ => continue,
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(Error::corrupt(format!("blob {src} is missing")));
                }
                Err(_) => break, // no hard links on this file system: copy the bytes
            }
        }
        // std::fs::copy uses copy_file_range on Linux: the kernel copies (or reflinks) the data.
        self.publish(dst, durable, |tmp, _| {
            fs::copy(&from, tmp).map_err(|e| {
                if e.kind() == ErrorKind::NotFound {
                    Error::corrupt(format!("blob {src} is missing"))
                } else {
                    e.into()
                }
            })?;
            Ok(())
        })
    }

    fn delete(&self, id: &str) -> Result<()> {
        let path = self.path(id)?;
        if !self.real_fanout(id)? {
            return Ok(());
        }
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn walk(&self) -> Result<Vec<BlobFile>> {
        let mut out = Vec::new();
        self.walk_dir(&self.root, 0, &mut out)?;
        Ok(out)
    }

    fn is_held(&self, file: &BlobFile) -> bool {
        match self.open_walked(file) {
            Ok(Some(f)) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            _ => false,
        }
    }

    fn remove_unheld(&self, file: &BlobFile, still_unreferenced: &dyn Fn() -> Result<bool>) -> Result<bool> {
        let path = self.file_path(file)?;
        let Some(f) = self.open_walked(file)? else { return Ok(false) };
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(false),
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        // The writer (if any) is done: its record is committed or it died. Check again.
        if !file.temporary && !still_unreferenced()? {
            return Ok(false);
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn path_of(&self, id: &str) -> Option<PathBuf> {
        self.path(id).ok()
    }
}
