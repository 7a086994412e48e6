//! Writing a log file's space: its header, the records it starts with, and the
//! zero-filled chunks it grows by (a checkpoint's new log, and the fresh copy recovery
//! makes of one).

use std::path::Path;

use super::record::Header;
use crate::durability::Disk;
use crate::error::Result;
use crate::fs::FsFile;

/// Default size of the zero-filled chunks the log grows by. One extra `fsync` per chunk
/// buys `fdatasync`s that commit no metadata for the thousands of records that fit in it.
pub const DEFAULT_CHUNK_BYTES: u64 = 1 << 20;

/// Writes a log into the new, empty `file`: `header`, then `after_header` (the padding and
/// records that follow it, possibly none), then zeros up to `len`, its allocated length (a
/// multiple of the header's chunk size).
pub(crate) fn write_log(
    disk: &mut Disk,
    file: &mut dyn FsFile,
    path: &Path,
    header: &Header,
    after_header: &[u8],
    len: u64,
) -> Result<()> {
    let encoded = header.encode();
    disk.write_at(file, path, 0, &encoded)?;
    let mut from = encoded.len() as u64;
    if !after_header.is_empty() {
        disk.write_at(file, path, from, after_header)?;
        from += after_header.len() as u64;
    }
    zero_range(disk, file, path, from, len.saturating_sub(from))
}

/// Writes `len` zeros at `offset`, in bounded pieces.
pub(crate) fn zero_range(
    disk: &mut Disk,
    file: &mut dyn FsFile,
    path: &Path,
    offset: u64,
    len: u64,
) -> Result<()> {
    const PIECE: u64 = 1 << 20;
    let zeros = vec![0u8; len.min(PIECE) as usize];
    let mut done = 0;
    while done < len {
        let piece = (len - done).min(PIECE) as usize;
        disk.write_at(file, path, offset + done, &zeros[..piece])?;
        disk.counters.zero_filled += piece as u64;
        done += piece as u64;
    }
    Ok(())
}
