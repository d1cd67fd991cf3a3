// SPDX-License-Identifier: GPL-2.0

//! Reader and replayer of a dm-log-writes log (drivers/md/dm-log-writes.c).
//!
//! dm-log-writes passes every bio through to the data device and, once a
//! write is known to be stable (it completed before a FLUSH was issued and
//! that FLUSH completed, or it had FUA), appends it to a log device. So the
//! log is the order in which writes reached stable storage, and replaying a
//! prefix of it onto a device that held what the data device held before
//! the first logged write gives a state the disk could have been in after a
//! power cut with a volatile write cache.
//!
//! On-disk format (all integers little endian; `ss` is the logical sector
//! size of the data device, recorded in the super block):
//!
//! * byte 0, one `ss`-sized block: the super block, `magic: u64`
//!   (0x6a736677736872), `version: u64` (1), `nr_entries: u64`,
//!   `sectorsize: u32`. The kernel rewrites it after every FUA or MARK entry
//!   and once more when the target is removed.
//! * from byte `ss` on, `nr_entries` entries back to back, each one
//!   `ss`-sized header block followed by `nr_sectors * ss` bytes of the
//!   written data. The header starts with `sector: u64`, `nr_sectors: u64`
//!   (both in `ss` units of the data device), `flags: u64` (FLUSH 1, FUA 2,
//!   DISCARD 4, MARK 8, METADATA 16) and `data_len: u64`; a MARK entry's
//!   name (`data_len` bytes, no NUL) follows in the same block. A DISCARD
//!   entry has a range but no data in the log; a MARK entry and an empty
//!   FLUSH have neither.
//!
//! Discards: the kernel gives no guarantee about what a discarded range
//! reads back as. The replayer writes zeroes by default (`Discard::Zero`;
//! the guest's scratch disks really read back zeroes, and a file system
//! that depends on a discarded block keeping its old data is then caught),
//! or leaves the range alone (`Discard::Skip`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt};

/// Magic number of the super block.
pub const MAGIC: u64 = 0x006a_7366_7773_6872;
/// The only format version.
pub const VERSION: u64 = 1;
/// The entry is a flush (REQ_PREFLUSH), possibly with data.
pub const FLAG_FLUSH: u64 = 1 << 0;
/// The write had FUA.
pub const FLAG_FUA: u64 = 1 << 1;
/// A discard: a range, no data.
pub const FLAG_DISCARD: u64 = 1 << 2;
/// A mark (`dmsetup message DEV 0 mark NAME`).
pub const FLAG_MARK: u64 = 1 << 3;
/// The write was tagged REQ_META.
pub const FLAG_METADATA: u64 = 1 << 4;

/// Size of the header fields of an entry.
const ENTRY_HDR: usize = 32;
/// Size of the fields of the super block.
const SUPER_LEN: usize = 28;

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log, from 0.
    pub index: u64,
    /// First sector written (in sectors of the log's sector size).
    pub sector: u64,
    /// Number of sectors.
    pub nr_sectors: u64,
    /// FLAG_* bits (unknown bits are kept).
    pub flags: u64,
    /// The name of a MARK entry.
    pub mark: Option<String>,
    /// Byte offset of the entry's data in the log.
    pub data_offset: u64,
}

impl Entry {
    /// A FLUSH or FUA entry: everything before it (in the log) was stable
    /// when it completed.
    pub fn is_flush_point(&self) -> bool {
        self.flags & (FLAG_FLUSH | FLAG_FUA) != 0
    }

    /// The entry carries data to write to the target.
    pub fn has_data(&self) -> bool {
        self.flags & (FLAG_DISCARD | FLAG_MARK) == 0 && self.nr_sectors > 0
    }

    /// The flags as text: "FLUSH+FUA", "DISCARD", "-" for none.
    pub fn flag_names(&self) -> String {
        let names = [
            (FLAG_FLUSH, "FLUSH"),
            (FLAG_FUA, "FUA"),
            (FLAG_DISCARD, "DISCARD"),
            (FLAG_MARK, "MARK"),
            (FLAG_METADATA, "META"),
        ];
        let mut v: Vec<String> = names
            .iter()
            .filter(|(b, _)| self.flags & b != 0)
            .map(|(_, n)| n.to_string())
            .collect();
        let known = names.iter().fold(0, |a, (b, _)| a | b);
        if self.flags & !known != 0 {
            v.push(format!("{:#x}", self.flags & !known));
        }
        if v.is_empty() {
            "-".into()
        } else {
            v.join("+")
        }
    }
}

/// A parsed log: the super block's fields and every entry's header.
#[derive(Debug)]
pub struct Log {
    /// Sector size (bytes) of the data device, the unit of `sector`.
    pub sectorsize: u64,
    /// The entries, in log order.
    pub entries: Vec<Entry>,
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Mark names as printable text: bytes outside printable ASCII, spaces
/// included, are written as `\xNN`.
fn mark_text(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        if c.is_ascii_graphic() && c != b'\\' {
            s.push(c as char);
        } else {
            s += &format!("\\x{c:02x}");
        }
    }
    s
}

fn read_at<R: Read + Seek>(r: &mut R, at: u64, buf: &mut [u8]) -> io::Result<()> {
    r.seek(SeekFrom::Start(at))?;
    r.read_exact(buf)
}

impl Log {
    /// Parses the super block and every entry header. Every inconsistency
    /// (bad magic or version, a sector size that is not a power of two in
    /// 512..=65536, entries or data running past the end of the log, a mark
    /// longer than its block, inline data on a non-mark entry) is an error
    /// that names the entry and its byte offset.
    pub fn read<R: Read + Seek>(r: &mut R) -> Result<Log, String> {
        let len = r
            .seek(SeekFrom::End(0))
            .map_err(|e| format!("cannot find the size of the log: {e}"))?;
        if len < 512 {
            return Err(format!(
                "the log is {len} bytes, too short for a super block (512)"
            ));
        }
        let mut sb = [0u8; SUPER_LEN];
        read_at(r, 0, &mut sb).map_err(|e| format!("reading the super block: {e}"))?;
        let magic = le64(&sb, 0);
        if magic != MAGIC {
            return Err(format!(
                "not a dm-log-writes log: magic {magic:#x}, expected {MAGIC:#x}"
            ));
        }
        let version = le64(&sb, 8);
        if version != VERSION {
            return Err(format!(
                "unsupported dm-log-writes log version {version} (only {VERSION} is known)"
            ));
        }
        let nr_entries = le64(&sb, 16);
        let ss = u32::from_le_bytes(sb[24..28].try_into().unwrap()) as u64;
        if !(512..=65536).contains(&ss) || !ss.is_power_of_two() {
            return Err(format!(
                "bad sector size {ss} in the super block (a power of two from 512 to 65536)"
            ));
        }
        // Every entry takes at least one sector: this bounds the count
        // before anything is allocated for it.
        let room = len.saturating_sub(ss) / ss;
        if nr_entries > room {
            return Err(format!(
                "the super block claims {nr_entries} entries, but a log of {len} bytes holds at most {room}"
            ));
        }
        let mut entries = Vec::with_capacity(nr_entries as usize);
        let mut hdr = vec![0u8; ss as usize];
        let mut pos = ss;
        for index in 0..nr_entries {
            let at = |what: &str| format!("entry {index} at byte {pos}: {what}");
            if pos.checked_add(ss).map_or(true, |end| end > len) {
                return Err(at(&format!(
                    "the log ends at byte {len} (the super block claims {nr_entries} entries)"
                )));
            }
            read_at(r, pos, &mut hdr).map_err(|e| at(&format!("reading the header: {e}")))?;
            let sector = le64(&hdr, 0);
            let nr_sectors = le64(&hdr, 8);
            let flags = le64(&hdr, 16);
            let data_len = le64(&hdr, 24);
            if sector.checked_add(nr_sectors).is_none() {
                return Err(at(&format!(
                    "sector {sector} + {nr_sectors} sectors overflows"
                )));
            }
            let mut mark = None;
            if flags & FLAG_MARK != 0 {
                if data_len > ss - ENTRY_HDR as u64 {
                    return Err(at(&format!(
                        "a mark of {data_len} bytes does not fit in its {ss}-byte block"
                    )));
                }
                mark = Some(mark_text(&hdr[ENTRY_HDR..ENTRY_HDR + data_len as usize]));
            } else if data_len != 0 {
                return Err(at(&format!(
                    "{data_len} bytes of inline data on a non-mark entry (dm-log-writes writes none)"
                )));
            }
            // The kernel reserves nr_sectors sectors of data for every entry
            // but a discard (a mark has none).
            let data = if flags & FLAG_DISCARD != 0 {
                0
            } else {
                nr_sectors
                    .checked_mul(ss)
                    .ok_or_else(|| at(&format!("{nr_sectors} sectors overflow")))?
            };
            let next = (pos + ss)
                .checked_add(data)
                .filter(|&n| n <= len)
                .ok_or_else(|| {
                    at(&format!(
                        "its {nr_sectors} data sectors run past the end of the log ({len} bytes)"
                    ))
                })?;
            entries.push(Entry {
                index,
                sector,
                nr_sectors,
                flags,
                mark,
                data_offset: pos + ss,
            });
            pos = next;
        }
        Ok(Log {
            sectorsize: ss,
            entries,
        })
    }

    /// Index of the first mark called `name`.
    pub fn mark_index(&self, name: &str) -> Result<u64, String> {
        self.entries
            .iter()
            .find(|e| e.mark.as_deref() == Some(name))
            .map(|e| e.index)
            .ok_or_else(|| format!("the log has no mark '{name}'"))
    }

    /// Indices of the FLUSH and FUA entries after entry `after` (all of
    /// them when `after` is None).
    pub fn flush_points(&self, after: Option<u64>) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|e| after.map_or(true, |a| e.index > a) && e.is_flush_point())
            .map(|e| e.index)
            .collect()
    }
}

/// What to do with the range of a discard entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discard {
    /// Write zeroes (the default).
    Zero,
    /// Leave the target's data alone.
    Skip,
}

/// What a replay did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Entries applied (marks and empty flushes included).
    pub entries: u64,
    /// Data entries written.
    pub writes: u64,
    /// Bytes of data written.
    pub bytes: u64,
    /// Discard entries (zeroed or skipped).
    pub discards: u64,
}

const BLKZEROOUT: libc::c_ulong = 0x127f; // _IO(0x12, 127)
const BLKFLSBUF: libc::c_ulong = 0x1261; // _IO(0x12, 97)

/// The size of a target file or block device.
pub fn target_size(f: &File) -> io::Result<u64> {
    let mut g = f;
    g.seek(SeekFrom::End(0))
}

fn is_blockdev(f: &File) -> bool {
    f.metadata().is_ok_and(|m| m.file_type().is_block_device())
}

/// Writes zeroes over `len` bytes at `off`: BLKZEROOUT on a block device,
/// a punched hole in a regular file, plain writes where those fail.
pub fn zero_range(f: &File, off: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    if len == 0 {
        return Ok(());
    }
    let fd = f.as_raw_fd();
    if is_blockdev(f) {
        // Earlier replayed writes to this range are superseded anyway; the
        // ioctl drops the cached pages of the range.
        f.sync_data()?;
        let range = [off, len];
        // SAFETY: BLKZEROOUT reads two u64 from the pointer, which lives
        // across the call.
        if unsafe { libc::ioctl(fd, BLKZEROOUT as _, range.as_ptr()) } == 0 {
            return Ok(());
        }
    } else {
        // SAFETY: plain syscall on a file descriptor we own.
        let r = unsafe {
            libc::fallocate(
                fd,
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off as libc::off_t,
                len as libc::off_t,
            )
        };
        if r == 0 {
            return Ok(());
        }
    }
    write_zeroes(f, off, len)
}

fn write_zeroes(f: &File, off: u64, len: u64) -> io::Result<()> {
    let zero = vec![0u8; len.min(1 << 20) as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(zero.len() as u64);
        f.write_all_at(&zero[..n as usize], off + done)?;
        done += n;
    }
    Ok(())
}

/// Applies entries `0..=to` of the log, in order, onto `target`. Entries
/// whose range lies past the end of the target are an error (nothing
/// later is applied). At the end the target is synced and, for a block
/// device, its page cache dropped (BLKFLSBUF), so that a mount sees what
/// was replayed.
pub fn replay<R: Read + Seek>(
    log: &Log,
    r: &mut R,
    target: &File,
    to: u64,
    discard: Discard,
) -> Result<ReplayStats, String> {
    let n = log.entries.len() as u64;
    if to >= n {
        return Err(format!(
            "cannot replay up to entry {to}: the log has {n} entries (0..={})",
            n.saturating_sub(1)
        ));
    }
    let ss = log.sectorsize;
    let size = target_size(target).map_err(|e| format!("the target's size: {e}"))?;
    let mut st = ReplayStats::default();
    let mut buf = Vec::new();
    for e in &log.entries[..=to as usize] {
        st.entries += 1;
        let is_discard = e.flags & FLAG_DISCARD != 0;
        if !(e.has_data() || is_discard && e.nr_sectors > 0) {
            continue;
        }
        // Cannot overflow: Log::read checked sector + nr_sectors, and
        // nr_sectors * ss for entries with data.
        let off = e.sector.checked_mul(ss);
        let len = e.nr_sectors.checked_mul(ss);
        let (off, len) = match (off, len) {
            (Some(o), Some(l)) if o.checked_add(l).is_some_and(|end| end <= size) => (o, l),
            _ => {
                return Err(format!(
                    "entry {}: sectors {}..{} are past the end of the target ({} sectors of {ss} bytes)",
                    e.index,
                    e.sector,
                    e.sector.saturating_add(e.nr_sectors),
                    size / ss
                ))
            }
        };
        if is_discard {
            st.discards += 1;
            if discard == Discard::Zero {
                zero_range(target, off, len)
                    .map_err(|err| format!("entry {}: zeroing a discard: {err}", e.index))?;
            }
            continue;
        }
        let mut done = 0;
        while done < len {
            let chunk = (len - done).min(1 << 20);
            buf.resize(chunk as usize, 0);
            read_at(r, e.data_offset + done, &mut buf)
                .map_err(|err| format!("entry {}: reading its data: {err}", e.index))?;
            target
                .write_all_at(&buf, off + done)
                .map_err(|err| format!("entry {}: writing the target: {err}", e.index))?;
            done += chunk;
        }
        st.writes += 1;
        st.bytes += len;
    }
    target
        .sync_all()
        .map_err(|e| format!("syncing the target: {e}"))?;
    if is_blockdev(target) {
        use std::os::fd::AsRawFd;
        // SAFETY: BLKFLSBUF takes no argument.
        unsafe { libc::ioctl(target.as_raw_fd(), BLKFLSBUF as _, 0) };
    }
    Ok(st)
}

/// One replay point chosen by [`choose_points`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// Replay entries 0..=entry.
    pub entry: u64,
    /// Why: "flush" (a FLUSH/FUA entry), "between" (a random entry between
    /// flush points) or "end" (the last entry of the log).
    pub why: &'static str,
    /// The last mark at or before `entry` whose name starts with the prefix
    /// given to [`choose_points`]: the durability point the state is to be
    /// checked against.
    pub mark: Option<String>,
}

/// Chooses at most `max` replay points among the entries after entry
/// `after` (all entries when None): the last entry of the log, every
/// FLUSH/FUA entry, and random entries in between (about a quarter of the
/// points when there are more flush points than room). When there are
/// too many of a kind, the ones taken are spread evenly over the log, one
/// chosen at random (from `seed`) in each of equal slices. The result is
/// sorted by entry and has no duplicates.
pub fn choose_points(
    log: &Log,
    after: Option<u64>,
    max: usize,
    seed: u64,
    mark_prefix: &str,
) -> Vec<Point> {
    use crate::rng::Rng;
    let first = after.map_or(0, |a| a + 1);
    let n = log.entries.len() as u64;
    if max == 0 || first >= n {
        return Vec::new();
    }
    let mut rng = Rng::new(seed);
    let last = n - 1;
    let flushes: Vec<u64> = log
        .flush_points(after)
        .into_iter()
        .filter(|&i| i != last)
        .collect();
    let others: Vec<u64> = (first..last)
        .filter(|&i| !log.entries[i as usize].is_flush_point())
        .collect();
    let room = max - 1; // the end is always a point
    let want_between = if flushes.len() >= room {
        (room / 4).min(others.len())
    } else {
        (room - flushes.len()).min(others.len())
    };
    let want_flush = (room - want_between).min(flushes.len());
    let spread = |v: &[u64], k: usize, rng: &mut Rng| -> Vec<u64> {
        (0..k)
            .map(|s| {
                let lo = s * v.len() / k;
                let hi = ((s + 1) * v.len() / k).max(lo + 1);
                v[lo + rng.below((hi - lo) as u64) as usize]
            })
            .collect()
    };
    let mut pts: Vec<(u64, &'static str)> = Vec::new();
    pts.extend(
        spread(&flushes, want_flush, &mut rng)
            .into_iter()
            .map(|i| (i, "flush")),
    );
    pts.extend(
        spread(&others, want_between, &mut rng)
            .into_iter()
            .map(|i| (i, "between")),
    );
    pts.push((last, "end"));
    pts.sort();
    pts.dedup_by_key(|p| p.0);
    let mut mark = None;
    let mut it = log.entries.iter().peekable();
    pts.into_iter()
        .map(|(entry, why)| {
            while let Some(e) = it.next_if(|e| e.index <= entry) {
                if let Some(m) = e.mark.as_ref().filter(|m| m.starts_with(mark_prefix)) {
                    mark = Some(m.clone());
                }
            }
            Point {
                entry,
                why,
                mark: mark.clone(),
            }
        })
        .collect()
}

/// Builds a dm-log-writes log in memory, the way the kernel lays it out;
/// for the tests of the reader and replayer.
#[derive(Debug)]
pub struct LogBuilder {
    ss: u64,
    body: Vec<u8>,
    n: u64,
}

impl LogBuilder {
    /// An empty log for a device of `sectorsize`-byte sectors.
    pub fn new(sectorsize: u64) -> Self {
        LogBuilder {
            ss: sectorsize,
            body: Vec::new(),
            n: 0,
        }
    }

    /// Appends an entry with raw fields, its mark bytes and its data.
    pub fn raw(
        &mut self,
        sector: u64,
        nr: u64,
        flags: u64,
        data_len: u64,
        mark: &[u8],
        data: &[u8],
    ) {
        let mut h = vec![0u8; self.ss as usize];
        h[0..8].copy_from_slice(&sector.to_le_bytes());
        h[8..16].copy_from_slice(&nr.to_le_bytes());
        h[16..24].copy_from_slice(&flags.to_le_bytes());
        h[24..32].copy_from_slice(&data_len.to_le_bytes());
        h[32..32 + mark.len()].copy_from_slice(mark);
        self.body.extend(h);
        self.body.extend(data);
        self.n += 1;
    }

    /// A write of `data` (whole sectors) at `sector`, with extra `flags`.
    pub fn write(&mut self, sector: u64, data: &[u8], flags: u64) -> &mut Self {
        assert_eq!(data.len() as u64 % self.ss, 0);
        self.raw(sector, data.len() as u64 / self.ss, flags, 0, &[], data);
        self
    }

    /// An empty flush.
    pub fn flush(&mut self) -> &mut Self {
        self.raw(0, 0, FLAG_FLUSH, 0, &[], &[]);
        self
    }

    /// A discard of `nr` sectors at `sector`.
    pub fn discard(&mut self, sector: u64, nr: u64) -> &mut Self {
        self.raw(sector, nr, FLAG_DISCARD, 0, &[], &[]);
        self
    }

    /// A mark.
    pub fn mark(&mut self, name: &str) -> &mut Self {
        self.raw(0, 0, FLAG_MARK, name.len() as u64, name.as_bytes(), &[]);
        self
    }

    /// The log's bytes, with a super block counting every entry.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes_claiming(self.n)
    }

    /// The log's bytes, with a super block claiming `nr_entries`.
    pub fn bytes_claiming(&self, nr_entries: u64) -> Vec<u8> {
        let mut v = vec![0u8; self.ss as usize];
        v[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        v[8..16].copy_from_slice(&VERSION.to_le_bytes());
        v[16..24].copy_from_slice(&nr_entries.to_le_bytes());
        v[24..28].copy_from_slice(&(self.ss as u32).to_le_bytes());
        v.extend(&self.body);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::path::PathBuf;

    fn tmp(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "rextfs-logreplay-unit-{}-{tag}",
            std::process::id()
        ))
    }

    fn sectors(fill: u8, n: usize, ss: usize) -> Vec<u8> {
        (0..n * ss).map(|i| fill ^ (i % 251) as u8).collect()
    }

    /// A target file of `n` bytes of 0xee.
    fn target(tag: &str, n: usize) -> (PathBuf, File) {
        let p = tmp(tag);
        std::fs::write(&p, vec![0xee; n]).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        (p, f)
    }

    fn sample(ss: usize) -> (LogBuilder, Vec<u8>, Vec<u8>) {
        let a = sectors(1, 2, ss);
        let b = sectors(2, 1, ss);
        let mut lb = LogBuilder::new(ss as u64);
        lb.write(0, &a, 0) // 0
            .flush() // 1
            .mark("mkfs") // 2
            .write(4, &b, FLAG_METADATA) // 3
            .write(1, &b, FLAG_FUA) // 4
            .mark("sync0") // 5
            .discard(0, 3) // 6
            .flush() // 7
            .mark("sync1"); // 8
        (lb, a, b)
    }

    #[test]
    fn parses_the_entries() {
        let (lb, _, _) = sample(512);
        let log = Log::read(&mut Cursor::new(lb.bytes())).unwrap();
        assert_eq!(log.sectorsize, 512);
        assert_eq!(log.entries.len(), 9);
        let e = &log.entries[3];
        assert_eq!(
            (e.sector, e.nr_sectors, e.flag_names().as_str()),
            (4, 1, "META")
        );
        assert_eq!(log.entries[4].flag_names(), "FUA");
        assert_eq!(log.entries[6].flag_names(), "DISCARD");
        assert_eq!(log.entries[2].mark.as_deref(), Some("mkfs"));
        // Header at 512 + 512 (super, entry 0's header), then its 2 sectors.
        assert_eq!(log.entries[0].data_offset, 1024);
        assert_eq!(log.entries[1].data_offset, 1024 + 1024 + 512);
        assert_eq!(log.mark_index("sync0").unwrap(), 5);
        assert!(log
            .mark_index("nope")
            .unwrap_err()
            .contains("no mark 'nope'"));
        assert_eq!(log.flush_points(None), vec![1, 4, 7]);
        assert_eq!(log.flush_points(Some(2)), vec![4, 7]);
    }

    #[test]
    fn replays_prefixes() {
        for ss in [512usize, 4096] {
            let (lb, a, b) = sample(ss);
            let bytes = lb.bytes();
            let log = Log::read(&mut Cursor::new(&bytes)).unwrap();
            let (p, f) = target(&format!("prefix{ss}"), 8 * ss);
            let mut want = vec![0xee; 8 * ss];
            let check = |to: u64, want: &[u8], discard: Discard| {
                // Replay from entry 0 onto a fresh target each time.
                std::fs::write(&p, vec![0xee; 8 * ss]).unwrap();
                replay(&log, &mut Cursor::new(&bytes), &f, to, discard).unwrap();
                assert_eq!(std::fs::read(&p).unwrap(), want, "ss {ss} to {to}");
            };
            want[..2 * ss].copy_from_slice(&a);
            check(0, &want, Discard::Zero);
            check(2, &want, Discard::Zero);
            want[4 * ss..5 * ss].copy_from_slice(&b);
            check(3, &want, Discard::Zero);
            want[ss..2 * ss].copy_from_slice(&b);
            check(5, &want, Discard::Zero);
            check(6, &want, Discard::Skip);
            let st = replay(&log, &mut Cursor::new(&bytes), &f, 8, Discard::Skip).unwrap();
            assert_eq!(
                st,
                ReplayStats {
                    entries: 9,
                    writes: 3,
                    bytes: 4 * ss as u64,
                    discards: 1
                }
            );
            want[..3 * ss].fill(0);
            check(6, &want, Discard::Zero);
            check(8, &want, Discard::Zero);
            std::fs::remove_file(&p).unwrap();
        }
    }

    #[test]
    fn zero_range_writes_zeroes() {
        let (p, f) = target("zero", 3 << 20);
        zero_range(&f, 4096, (2 << 20) + 512).unwrap();
        let got = std::fs::read(&p).unwrap();
        assert!(got[..4096].iter().all(|&x| x == 0xee));
        assert!(got[4096..4096 + (2 << 20) + 512].iter().all(|&x| x == 0));
        assert!(got[4096 + (2 << 20) + 512..].iter().all(|&x| x == 0xee));
        assert_eq!(got.len(), 3 << 20);
        // The fallback, for devices and files that refuse both shortcuts.
        write_zeroes(&f, 0, 100).unwrap();
        assert!(std::fs::read(&p).unwrap()[..100].iter().all(|&x| x == 0));
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn replay_past_the_target_or_the_log_is_an_error() {
        let (lb, _, _) = sample(512);
        let bytes = lb.bytes();
        let log = Log::read(&mut Cursor::new(&bytes)).unwrap();
        let (p, f) = target("small", 4 * 512);
        let e = replay(&log, &mut Cursor::new(&bytes), &f, 8, Discard::Zero).unwrap_err();
        assert!(
            e.contains("entry 3: sectors 4..5 are past the end of the target"),
            "{e}"
        );
        let e = replay(&log, &mut Cursor::new(&bytes), &f, 9, Discard::Zero).unwrap_err();
        assert!(e.contains("the log has 9 entries"), "{e}");
        std::fs::remove_file(&p).unwrap();
    }

    fn err_of(bytes: Vec<u8>) -> String {
        Log::read(&mut Cursor::new(bytes)).unwrap_err()
    }

    #[test]
    fn malformed_logs_are_clear_errors() {
        let (lb, _, _) = sample(512);
        let good = lb.bytes();
        assert!(err_of(vec![]).contains("too short for a super block"));
        let mut b = good.clone();
        b[0] ^= 1;
        assert!(err_of(b).contains("not a dm-log-writes log"));
        let mut b = good.clone();
        b[8] = 2;
        assert!(err_of(b).contains("unsupported dm-log-writes log version 2"));
        for bad in [0u32, 256, 1000, 1 << 17] {
            let mut b = good.clone();
            b[24..28].copy_from_slice(&bad.to_le_bytes());
            assert!(err_of(b).contains(&format!("bad sector size {bad}")));
        }
        // More entries than the log has room for: refused before allocating.
        let e = err_of(lb.bytes_claiming(u64::MAX));
        assert!(e.contains("claims 18446744073709551615 entries"), "{e}");
        // Cut inside the data of entry 0 and inside the header of entry 8.
        let e = err_of(lb.bytes_claiming(1)[..1500].to_vec());
        assert!(
            e.contains("entry 0 at byte 512: its 2 data sectors run past the end"),
            "{e}"
        );
        let e = err_of(good[..good.len() - 100].to_vec());
        assert!(
            e.contains("entry 8 at byte") && e.contains("the log ends"),
            "{e}"
        );
        // A super block that counts fewer entries than are there is fine:
        // only those are read.
        let log = Log::read(&mut Cursor::new(lb.bytes_claiming(3))).unwrap();
        assert_eq!(log.entries.len(), 3);
        // A mark longer than its block, inline data, overflowing ranges.
        let mut lb2 = LogBuilder::new(512);
        lb2.raw(0, 0, FLAG_MARK, 481, &[], &[]);
        assert!(err_of(lb2.bytes()).contains("a mark of 481 bytes does not fit"));
        let mut lb2 = LogBuilder::new(512);
        lb2.raw(0, 0, 0, 5, &[], &[]);
        assert!(err_of(lb2.bytes()).contains("5 bytes of inline data"));
        let mut lb2 = LogBuilder::new(512);
        lb2.raw(u64::MAX, 1, FLAG_DISCARD, 0, &[], &[]);
        assert!(err_of(lb2.bytes()).contains("overflows"));
        let mut lb2 = LogBuilder::new(512);
        lb2.raw(0, u64::MAX / 256, 0, 0, &[], &[]);
        assert!(err_of(lb2.bytes()).contains("overflow"));
        // Random garbage after a valid super block never panics.
        let mut r = crate::rng::Rng::new(5);
        for _ in 0..200 {
            let mut b = lb.bytes_claiming(9);
            for _ in 0..8 {
                let at = r.below(b.len() as u64 - 512) as usize + 512;
                b[at] = r.next_u64() as u8;
            }
            let _ = Log::read(&mut Cursor::new(b));
        }
    }

    #[test]
    fn marks_are_escaped() {
        let mut lb = LogBuilder::new(512);
        lb.raw(0, 0, FLAG_MARK, 5, b"a b\\\x01", &[]);
        let log = Log::read(&mut Cursor::new(lb.bytes())).unwrap();
        assert_eq!(log.entries[0].mark.as_deref(), Some("a\\x20b\\x5c\\x01"));
        let mut lb = LogBuilder::new(512);
        lb.raw(0, 0, 1 << 9 | FLAG_FUA, 0, &[], &[]);
        let log = Log::read(&mut Cursor::new(lb.bytes())).unwrap();
        assert_eq!(log.entries[0].flag_names(), "FUA+0x200");
    }

    /// A log like a workload's: mkfs writes, a mark, then writes with a
    /// flush and a sync mark now and then.
    fn workload_log() -> Log {
        let mut lb = LogBuilder::new(512);
        let d = vec![7u8; 512];
        for i in 0..20 {
            lb.write(i, &d, 0);
        }
        lb.flush().mark("mkfs");
        let mut s = 0;
        for i in 0..300u64 {
            lb.write(i % 50, &d, 0);
            if i % 10 == 9 {
                lb.flush().write(60, &d, FLAG_FUA).mark(&format!("sync{s}"));
                s += 1;
            }
        }
        lb.mark("dm-log-writes-end");
        Log::read(&mut Cursor::new(lb.bytes())).unwrap()
    }

    #[test]
    fn points_cover_the_flushes_and_map_to_marks() {
        let log = workload_log();
        let mkfs = log.mark_index("mkfs").unwrap();
        let last = log.entries.len() as u64 - 1;
        // Room for everything: every flush point after the mkfs mark.
        let pts = choose_points(&log, Some(mkfs), 1000, 3, "sync");
        let flushes = log.flush_points(Some(mkfs));
        assert_eq!(flushes.len(), 60);
        for f in &flushes {
            assert!(pts.iter().any(|p| p.entry == *f && p.why == "flush"));
        }
        assert!(pts.iter().all(|p| p.entry > mkfs));
        assert_eq!(
            pts.last().unwrap(),
            &Point {
                entry: last,
                why: "end",
                mark: Some("sync29".into())
            }
        );
        // Each point's mark is the last sync mark at or before it.
        for p in &pts {
            let want = log.entries[..=p.entry as usize]
                .iter()
                .rev()
                .find_map(|e| e.mark.clone().filter(|m| m.starts_with("sync")));
            assert_eq!(p.mark, want, "{p:?}");
        }
        assert_eq!(pts[0].mark, None);
        // Capped: exactly max points, spread over the log, a quarter of
        // them between flush points, the same for the same seed.
        let pts = choose_points(&log, Some(mkfs), 20, 3, "sync");
        assert_eq!(pts.len(), 20);
        assert_eq!(pts.iter().filter(|p| p.why == "between").count(), 4);
        assert!(pts.windows(2).all(|w| w[0].entry < w[1].entry));
        assert!(pts[0].entry < log.entries.len() as u64 / 5);
        assert_eq!(pts, choose_points(&log, Some(mkfs), 20, 3, "sync"));
        assert_ne!(pts, choose_points(&log, Some(mkfs), 20, 4, "sync"));
        assert_eq!(choose_points(&log, Some(mkfs), 1, 3, "sync").len(), 1);
        assert!(choose_points(&log, Some(last), 5, 3, "sync").is_empty());
    }
}
