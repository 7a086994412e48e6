//! Stage 1: rewrite the database file in place, with no fsync. Deliberately not
//! crash-safe: it is here so the crash tests and demos can show what goes wrong.
//!
//! Protocol: serialise → truncate `PATH` → write → acknowledge. Between the truncate and
//! the end of the write the file is empty or half-written; until the kernel writes the
//! page cache back, a power loss can take any of it.

use super::{CommitFailure, Disk, Map};
use crate::crash::CrashPoint;
use crate::error::Error;
use crate::files::NEW_FILE_MODE;
use crate::fs::OpenMode;

#[derive(Debug)]
pub(crate) struct Naive {
    pub disk: Disk,
    buf: Vec<u8>,
}

impl Naive {
    pub fn new(disk: Disk) -> Self {
        Naive {
            disk,
            buf: Vec::new(),
        }
    }

    pub fn commit(&mut self, map: &Map) -> Result<(), CommitFailure> {
        super::snapshot::serialise(map, &mut self.buf);
        let disk = &mut self.disk;
        let path = disk.path.clone();
        // An open that fails has not truncated (O_TRUNC takes effect only once the open
        // succeeds), so the file still holds the last commit and later writes may go on.
        // From the open on, the old contents are gone: any failure leaves the file in an
        // unknown state, so it poisons the store.
        let mut file = disk
            .fs
            .open(
                &path,
                OpenMode::Truncate {
                    mode: NEW_FILE_MODE,
                },
            )
            .map_err(|err| CommitFailure::clean(Error::io("open", &path, err)))?;
        if disk.armed == Some(CrashPoint::MidWrite) {
            let half = &self.buf[..self.buf.len() / 2];
            disk.write_at(file.as_mut(), &path, 0, half)
                .map_err(CommitFailure::poisoning)?;
            disk.crash_point(CrashPoint::MidWrite)?;
        }
        disk.write_at(file.as_mut(), &path, 0, &self.buf)
            .map_err(CommitFailure::poisoning)
    }
}
