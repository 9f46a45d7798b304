//! Blob downloads that survive interruptions. A blob being fetched lives in
//! `ingest/<hex>.partial`, held under an exclusive flock by the one pull writing it: a second
//! pull of the same blob (in this process or another) waits for the lock and then finds the
//! blob complete, so concurrent pulls share the work; a pull that died leaves the bytes it had
//! for the next attempt to continue from (HTTP Range). Only a verified blob is renamed into
//! `blobs/`, so nothing there ever looks complete without being so.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use nix::fcntl::{Flock, FlockArg};

use crate::digest::{Digest, DigestWriter};
use crate::error::{Error, Result};
use crate::fsutil::fsync_dir;

use super::ContentStore;

const PARTIAL: &str = ".partial";

/// The claim on one blob's download: the partial file, locked.
pub struct Download {
    store: ContentStore,
    digest: Digest,
    path: PathBuf,
    /// Taken by [`BlobStream::commit`]; while here, dropping an empty download removes it.
    file: Option<Flock<File>>,
    kept: u64,
}

/// A committed blob whose download claim is still held.
#[derive(Debug)]
pub struct Claim {
    /// The blob's size.
    pub size: u64,
    _lock: Flock<File>,
}

/// The blob's bytes from the first: what an earlier attempt kept, then the rest as the caller's
/// source yields it (appended to the partial file on the way). Everything read is hashed, so
/// [`BlobStream::commit`] verifies the digest without reading the blob again.
pub struct BlobStream<R> {
    download: Download,
    kept: io::Take<File>,
    rest: R,
    hash: DigestWriter<io::Sink>,
}

impl ContentStore {
    /// Claims the download of `digest`, waiting while someone else holds it. `None` when the
    /// blob is already complete (perhaps fetched by whoever held the claim).
    pub fn download(&self, digest: &Digest) -> Result<Option<Download>> {
        if self.has(digest) {
            return Ok(None);
        }
        let path = self.partial_path(digest);
        let file = loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(Error::io("open", &path))?;
            let file = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| Error::Io {
                op: "flock",
                path: path.clone(),
                source: e.into(),
            })?;
            let ours = is_at(&file, &path);
            if self.has(digest) {
                // Completed while we waited. A file we created meanwhile is nobody's.
                if ours {
                    let _ = fs::remove_file(&path);
                }
                return Ok(None);
            }
            if ours {
                break file;
            }
            // The holder removed its file (bad bytes) after we opened it: start over.
        };
        let kept = file.metadata().map_err(Error::io("stat", &path))?.len();
        Ok(Some(Download {
            store: self.clone(),
            digest: digest.clone(),
            path,
            file: Some(file),
            kept,
        }))
    }

    /// Removes partial downloads nobody holds (a dead pull's), returning how many. Called by
    /// garbage collection: resuming is worth keeping them until then.
    pub fn remove_abandoned_downloads(&self) -> Result<usize> {
        let dir = self.dir().join("ingest");
        let mut removed = 0;
        for e in fs::read_dir(&dir).map_err(Error::io("read dir", &dir))? {
            let e = e.map_err(Error::io("read dir", &dir))?;
            if !e.file_name().to_string_lossy().ends_with(PARTIAL) {
                continue;
            }
            let Ok(f) = File::open(e.path()) else {
                continue;
            };
            if let Ok(_held) = Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                fs::remove_file(e.path()).map_err(Error::io("remove", e.path()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.dir()
            .join("ingest")
            .join(format!("{}{PARTIAL}", digest.hex()))
    }
}

/// Whether `file` is (still) the file at `path`.
fn is_at(file: &File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl Download {
    /// Bytes an earlier attempt kept: where the registry should resume from.
    pub fn offset(&self) -> u64 {
        self.kept
    }

    /// Forgets the kept bytes (the registry did not honour the range request).
    pub fn restart(&mut self) -> Result<()> {
        self.file()
            .set_len(0)
            .map_err(Error::io("truncate", &self.path))?;
        self.kept = 0;
        Ok(())
    }

    /// The whole blob as a stream: the kept bytes, then `rest`.
    pub fn stream<R: Read>(self, rest: R) -> Result<BlobStream<R>> {
        let reread = File::open(&self.path).map_err(Error::io("open", &self.path))?;
        self.file()
            .seek(SeekFrom::End(0))
            .map_err(Error::io("seek", &self.path))?;
        Ok(BlobStream {
            kept: reread.take(self.kept),
            rest,
            hash: DigestWriter::new(io::sink()),
            download: self,
        })
    }

    fn file(&self) -> &File {
        self.file.as_ref().expect("download not committed")
    }
}

impl Drop for Download {
    /// A claim that never got a byte leaves no file behind.
    fn drop(&mut self) {
        if let Some(f) = &self.file
            && f.metadata().is_ok_and(|m| m.len() == 0)
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl<R: Read> BlobStream<R> {
    /// Bytes of the blob read so far.
    pub fn position(&self) -> u64 {
        self.hash.written()
    }

    /// Checks the digest of everything read (the caller read to the end), makes the blob
    /// durable and moves it into `blobs/`. On a mismatch the partial file is removed: its bytes
    /// are not worth resuming. The claim stays held until the returned [`Claim`] is dropped,
    /// so what must be ready when others see the blob (its snapshot) can be finished first.
    pub fn commit(self) -> Result<Claim> {
        let (actual, size, _) = self.hash.finish();
        let mut d = self.download;
        if actual != d.digest {
            let _ = fs::remove_file(&d.path);
            return Err(Error::DigestMismatch {
                expected: d.digest.clone(),
                actual,
            });
        }
        let file = d.file.take().expect("download committed once");
        file.sync_all().map_err(Error::io("fsync", &d.path))?;
        let dest = d.store.blob_path(&d.digest);
        fs::rename(&d.path, &dest).map_err(Error::io("rename", &dest))?;
        fsync_dir(dest.parent().expect("blob path has a parent"))?;
        Ok(Claim { size, _lock: file })
    }
}

impl<R: Read> Read for BlobStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = self.kept.read(buf)?;
        if n == 0 {
            n = self.rest.read(buf)?;
            self.download.file().write_all(&buf[..n])?;
        }
        self.hash.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_from_kept_bytes_and_verifies() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ContentStore::open(tmp.path()).unwrap();
        let blob = b"0123456789abcdef".repeat(1000);
        let digest = Digest::of(&blob);

        // First attempt dies after 5000 bytes.
        let dl = store.download(&digest).unwrap().unwrap();
        assert_eq!(dl.offset(), 0);
        let mut s = dl.stream(&blob[..5000]).unwrap();
        io::copy(&mut s, &mut io::sink()).unwrap();
        drop(s);
        assert!(!store.has(&digest));

        // A reopened store keeps the partial file; the second attempt sends only the rest.
        let store = ContentStore::open(tmp.path()).unwrap();
        let dl = store.download(&digest).unwrap().unwrap();
        assert_eq!(dl.offset(), 5000);
        let mut s = dl.stream(&blob[5000..]).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        assert_eq!(all, blob, "the stream yields the whole blob");
        assert_eq!(s.commit().unwrap().size, blob.len() as u64);
        assert_eq!(store.read_blob(&digest).unwrap(), blob);
        assert!(store.download(&digest).unwrap().is_none());
        assert_eq!(
            fs::read_dir(tmp.path().join("content/ingest"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn wrong_bytes_are_dropped_not_resumed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ContentStore::open(tmp.path()).unwrap();
        let digest = Digest::of(b"right");
        let mut s = store
            .download(&digest)
            .unwrap()
            .unwrap()
            .stream(&b"wrong"[..])
            .unwrap();
        io::copy(&mut s, &mut io::sink()).unwrap();
        let err = s.commit().unwrap_err().to_string();
        assert!(err.contains("digest mismatch"), "{err}");
        assert!(!store.has(&digest));
        assert_eq!(store.download(&digest).unwrap().unwrap().offset(), 0);
    }

    #[test]
    fn second_claim_waits_then_finds_the_blob() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ContentStore::open(tmp.path()).unwrap();
        let blob = b"shared".to_vec();
        let digest = Digest::of(&blob);
        let first = store.download(&digest).unwrap().unwrap();
        let waiter = {
            let (store, digest) = (store.clone(), digest.clone());
            std::thread::spawn(move || store.download(&digest).unwrap().is_none())
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            !waiter.is_finished(),
            "the second claim waits for the first"
        );
        let mut s = first.stream(&blob[..]).unwrap();
        io::copy(&mut s, &mut io::sink()).unwrap();
        s.commit().unwrap();
        assert!(waiter.join().unwrap(), "and then finds the blob complete");
    }

    #[test]
    fn abandoned_partials_are_collected_held_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ContentStore::open(tmp.path()).unwrap();
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let mut s = store
            .download(&a)
            .unwrap()
            .unwrap()
            .stream(&b"partial"[..])
            .unwrap();
        io::copy(&mut s, &mut io::sink()).unwrap();
        drop(s);
        let held = store.download(&b).unwrap().unwrap();
        assert_eq!(store.remove_abandoned_downloads().unwrap(), 1);
        assert!(held.path.exists());
        assert!(!store.partial_path(&a).exists());
    }
}
