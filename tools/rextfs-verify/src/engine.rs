// SPDX-License-Identifier: GPL-2.0

//! Runs operations against real files and checks them against the models.

use crate::model::{Diff, Model};
use crate::op::{IoMode, Op};
use crate::rng::fill_pattern;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;

/// How the engine sets up its files.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Directory holding the files.
    pub dir: PathBuf,
    /// File names, indexed by the ops' file numbers.
    pub names: Vec<String>,
    /// Shared-file mode: the (single) file already exists with this size,
    /// other processes write the rest of it, and only `region` is checked.
    pub shared_size: Option<u64>,
    /// The checked range in shared-file mode.
    pub region: Option<(u64, u64)>,
    /// Shell command run by `remount` ops (between closing and reopening).
    pub remount_cmd: Option<String>,
    /// O_DIRECT alignment.
    pub align: u64,
    /// Print each op as it runs.
    pub verbose: bool,
    /// Tolerate operations the filesystem refuses as unsupported (fallocate
    /// modes failing with EOPNOTSUPP or ENOSYS, an O_DIRECT open failing with
    /// EINVAL): count them and leave the model unchanged. Off by default: then
    /// such a refusal fails the run like any other error.
    pub allow_unsupported: bool,
    /// Test only: op kinds to treat as refused by the filesystem without
    /// asking it ("falloc-punch", ...; "read-direct" or "write-direct" make
    /// every O_DIRECT open fail with EINVAL). Proves the strict mode.
    pub simulate_unsupported: Vec<String>,
}

/// Why a run stopped.
#[derive(Debug)]
pub struct Failure {
    /// The failing op's number.
    pub op_no: u64,
    /// The failing op.
    pub op: Op,
    /// The file concerned, if one.
    pub file: Option<String>,
    /// Description.
    pub what: String,
    /// For data mismatches, where.
    pub diff: Option<Diff>,
}

/// Per-kind counters.
#[derive(Clone, Debug, Default)]
pub struct Stat {
    /// Ops run successfully.
    pub done: u64,
    /// Ops the filesystem refused as unsupported (EOPNOTSUPP, or EINVAL when
    /// opening with O_DIRECT) and that were tolerated (`allow_unsupported`);
    /// the model was left unchanged.
    pub unsupported: u64,
}

struct FileState {
    path: PathBuf,
    name: String,
    fd: Option<File>,
    dfd: Option<File>,
    model: Model,
}

/// A page-aligned heap buffer for O_DIRECT.
struct AlignedBuf {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl AlignedBuf {
    fn new(len: usize, align: usize) -> AlignedBuf {
        let layout = std::alloc::Layout::from_size_align(len.max(1), align.max(4096)).unwrap();
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        AlignedBuf { ptr, layout }
    }

    fn as_mut(&mut self, len: usize) -> &mut [u8] {
        // SAFETY: ptr is valid for layout.size() >= len bytes, uniquely owned.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in new() with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
    )
}

fn direct_open_failed(e: &io::Error) -> String {
    let hint = if e.raw_os_error() == Some(libc::EINVAL) {
        " (O_DIRECT refused: an unsupported operation fails the run; --allow-unsupported tolerates it)"
    } else {
        ""
    };
    format!("open(O_DIRECT) failed: {e}{hint}")
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// The runner.
pub struct Engine {
    cfg: EngineConfig,
    files: Vec<FileState>,
    /// Counters per op kind.
    pub stats: BTreeMap<String, Stat>,
    direct_refused: bool,
}

type R<T> = Result<T, (Option<usize>, String, Option<Diff>)>;

fn err<T>(file: usize, what: String) -> R<T> {
    Err((Some(file), what, None))
}

impl Engine {
    /// Creates (or, in shared mode, opens) the files.
    pub fn new(cfg: EngineConfig) -> io::Result<Engine> {
        let mut files = Vec::new();
        for name in &cfg.names {
            let path = cfg.dir.join(name);
            let model = match cfg.shared_size {
                None => {
                    OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(&path)?;
                    Model::new()
                }
                Some(size) => {
                    let f = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(&path)?;
                    if f.metadata()?.len() != size {
                        f.set_len(size)?;
                    }
                    Model::zeroed(size)
                }
            };
            files.push(FileState {
                path,
                name: name.clone(),
                fd: None,
                dfd: None,
                model,
            });
        }
        Ok(Engine {
            cfg,
            files,
            stats: BTreeMap::new(),
            direct_refused: false,
        })
    }

    /// The model sizes, indexed by file number.
    pub fn sizes(&self) -> Vec<u64> {
        self.files.iter().map(|f| f.model.size()).collect()
    }

    /// The name of file `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.files[i].name
    }

    /// Whether unsupported operations are tolerated.
    pub fn allow_unsupported(&self) -> bool {
        self.cfg.allow_unsupported
    }

    /// Whether O_DIRECT opens were refused.
    pub fn direct_refused(&self) -> bool {
        self.direct_refused
    }

    fn fd(&mut self, i: usize) -> io::Result<&File> {
        let f = &mut self.files[i];
        if f.fd.is_none() {
            f.fd = Some(OpenOptions::new().read(true).write(true).open(&f.path)?);
        }
        Ok(f.fd.as_ref().unwrap())
    }

    /// The O_DIRECT descriptor, `None` when the filesystem refuses O_DIRECT.
    fn dfd(&mut self, i: usize) -> io::Result<Option<&File>> {
        if self.direct_refused {
            return Ok(None);
        }
        let simulate = self.simulated("read-direct") || self.simulated("write-direct");
        let allow = self.cfg.allow_unsupported;
        let f = &mut self.files[i];
        if f.dfd.is_none() {
            let r = if simulate {
                Err(io::Error::from_raw_os_error(libc::EINVAL))
            } else {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_DIRECT)
                    .open(&f.path)
            };
            match r {
                Ok(d) => f.dfd = Some(d),
                Err(e) if allow && e.raw_os_error() == Some(libc::EINVAL) => {
                    self.direct_refused = true;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(self.files[i].dfd.as_ref())
    }

    fn simulated(&self, kind: &str) -> bool {
        self.cfg.simulate_unsupported.iter().any(|k| k == kind)
    }

    fn close(&mut self, i: usize) {
        self.files[i].fd = None;
        self.files[i].dfd = None;
    }

    fn window(&self) -> (u64, u64) {
        self.cfg.region.unwrap_or((0, u64::MAX))
    }

    fn compare(&self, i: usize, off: u64, len: u64, got: &[u8]) -> R<()> {
        let (lo, hi) = self.window();
        match self.files[i].model.compare(off, len, got, lo, hi) {
            None => Ok(()),
            Some(d) => Err((
                Some(i),
                format!("data mismatch reading {len:#x} bytes at {off:#x}"),
                Some(d),
            )),
        }
    }

    fn actual_size(&mut self, i: usize) -> R<u64> {
        match self.fd(i).and_then(|f| f.metadata()) {
            Ok(m) => Ok(m.len()),
            Err(e) => err(i, format!("fstat failed: {e}")),
        }
    }

    fn read_buffered(&mut self, i: usize, off: u64, len: u64) -> R<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        let mut done = 0usize;
        let f = match self.fd(i) {
            Ok(f) => f,
            Err(e) => return err(i, format!("open failed: {e}")),
        };
        while done < buf.len() {
            match f.read_at(&mut buf[done..], off + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return err(i, format!("read failed: {e}")),
            }
        }
        buf.truncate(done);
        Ok(buf)
    }

    /// Checks file `i` in full (size too, except in shared mode).
    pub fn check_file(&mut self, i: usize) -> R<()> {
        let actual = self.actual_size(i)?;
        let want = self.files[i].model.size();
        if self.cfg.shared_size.is_none() && actual != want {
            return err(i, format!("size is {actual:#x}, expected {want:#x}"));
        }
        let len = actual.max(want);
        let got = self.read_buffered(i, 0, len)?;
        self.compare(i, 0, len, &got)
    }

    fn count(&mut self, op: &Op, supported: bool) {
        let s = self.stats.entry(op.kind()).or_default();
        if supported {
            s.done += 1;
        } else {
            s.unsupported += 1;
        }
    }

    /// Runs op `n`, checks what it read, updates the model.
    #[allow(clippy::result_large_err)]
    pub fn apply(&mut self, n: u64, op: &Op) -> Result<(), Failure> {
        if self.cfg.verbose {
            eprintln!("{n} {op}");
        }
        match self.run(op) {
            Ok(supported) => {
                self.count(op, supported);
                Ok(())
            }
            Err((file, what, diff)) => Err(Failure {
                op_no: n,
                op: op.clone(),
                file: file.map(|i| self.files[i].name.clone()),
                what,
                diff,
            }),
        }
    }

    /// Ok(false): the filesystem does not support the op.
    fn run(&mut self, op: &Op) -> R<bool> {
        match *op {
            Op::Read {
                file,
                mode,
                off,
                len,
            } => self.read(file, mode, off, len),
            Op::Write {
                file,
                mode,
                off,
                len,
                seed,
            } => self.write(file, mode, off, len, seed),
            Op::Truncate { file, size } => {
                let r = self.fd(file).and_then(|f| f.set_len(size));
                if let Err(e) = r {
                    return err(file, format!("ftruncate failed: {e}"));
                }
                self.files[file].model.truncate(size);
                Ok(true)
            }
            Op::Falloc {
                file,
                mode,
                off,
                len,
            } => {
                let fd = match self.fd(file) {
                    Ok(f) => f.as_raw_fd(),
                    Err(e) => return err(file, format!("open failed: {e}")),
                };
                let r = if self.simulated(&op.kind()) {
                    Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
                } else {
                    // SAFETY: fallocate on an open descriptor has no memory effects.
                    match unsafe { libc::fallocate(fd, mode.flags(), off as i64, len as i64) } {
                        0 => Ok(()),
                        _ => Err(io::Error::last_os_error()),
                    }
                };
                if let Err(e) = r {
                    if self.cfg.allow_unsupported && is_unsupported(&e) {
                        return Ok(false);
                    }
                    let hint = if is_unsupported(&e) {
                        " (an unsupported operation fails the run; --allow-unsupported tolerates it)"
                    } else {
                        ""
                    };
                    return err(
                        file,
                        format!("fallocate({}) failed: {e}{hint}", mode.name()),
                    );
                }
                self.files[file].model.fallocate(mode, off, len);
                Ok(true)
            }
            Op::Fsync { file } => match self.fd(file).and_then(|f| f.sync_all()) {
                Ok(()) => Ok(true),
                Err(e) => err(file, format!("fsync failed: {e}")),
            },
            Op::Fdatasync { file } => match self.fd(file).and_then(|f| f.sync_data()) {
                Ok(()) => Ok(true),
                Err(e) => err(file, format!("fdatasync failed: {e}")),
            },
            Op::Reopen { file } => {
                self.close(file);
                match self.fd(file) {
                    Ok(_) => Ok(true),
                    Err(e) => err(file, format!("reopen failed: {e}")),
                }
            }
            Op::Check => {
                for i in 0..self.files.len() {
                    self.check_file(i)?;
                }
                Ok(true)
            }
            Op::Remount => {
                for i in 0..self.files.len() {
                    self.close(i);
                }
                let Some(cmd) = self.cfg.remount_cmd.clone() else {
                    return Err((None, "remount op without --remount-cmd".into(), None));
                };
                match std::process::Command::new("sh")
                    .arg("-c")
                    .arg(&cmd)
                    .status()
                {
                    Ok(s) if s.success() => {}
                    Ok(s) => {
                        return Err((None, format!("remount command failed ({s}): {cmd}"), None))
                    }
                    Err(e) => return Err((None, format!("cannot run remount command: {e}"), None)),
                }
                for i in 0..self.files.len() {
                    self.check_file(i)?;
                }
                Ok(true)
            }
            Op::Corrupt { file, off } => {
                let b = self.read_buffered(file, off, 1)?;
                let v = b.first().copied().unwrap_or(0) ^ 0xff;
                if let Err(e) = self.fd(file).and_then(|f| f.write_all_at(&[v], off)) {
                    return err(file, format!("corrupt write failed: {e}"));
                }
                self.check_file(file)?;
                Ok(true)
            }
        }
    }

    fn read(&mut self, i: usize, mode: IoMode, off: u64, len: u64) -> R<bool> {
        let got = match mode {
            IoMode::Buffered => self.read_buffered(i, off, len)?,
            IoMode::Direct => {
                let align = self.cfg.align;
                let f = match self.dfd(i) {
                    Ok(Some(f)) => f,
                    Ok(None) => return Ok(false),
                    Err(e) => return err(i, direct_open_failed(&e)),
                };
                let mut ab = AlignedBuf::new(len as usize, align as usize);
                let buf = ab.as_mut(len as usize);
                let mut done = 0usize;
                while done < buf.len() {
                    match f.read_at(&mut buf[done..], off + done as u64) {
                        Ok(0) => break,
                        Ok(n) => {
                            done += n;
                            if n as u64 % align != 0 {
                                break; // short read at EOF
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return err(i, format!("O_DIRECT read failed: {e}")),
                    }
                }
                buf[..done].to_vec()
            }
            IoMode::Mmap => {
                let actual = self.actual_size(i)?;
                if off + len > actual {
                    return err(
                        i,
                        format!("size is {actual:#x}, expected at least {:#x}", off + len),
                    );
                }
                let mut out = vec![0u8; len as usize];
                self.with_map(i, off, len, |m| out.copy_from_slice(m))?;
                out
            }
        };
        self.compare(i, off, len, &got)?;
        Ok(true)
    }

    fn with_map(&mut self, i: usize, off: u64, len: u64, f: impl FnOnce(&mut [u8])) -> R<()> {
        let page = page_size();
        let moff = off - off % page;
        let mlen = (off + len - moff) as usize;
        let fd = match self.fd(i) {
            Ok(f) => f.as_raw_fd(),
            Err(e) => return err(i, format!("open failed: {e}")),
        };
        // SAFETY: a fresh shared mapping of an open descriptor; it is only
        // accessed below, within its length, and unmapped before returning.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mlen,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                moff as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return err(i, format!("mmap failed: {}", io::Error::last_os_error()));
        }
        // SAFETY: p maps mlen bytes; the range [off - moff, +len) is inside.
        let s = unsafe {
            std::slice::from_raw_parts_mut((p as *mut u8).add((off - moff) as usize), len as usize)
        };
        f(s);
        // SAFETY: unmapping the mapping created above; s is dead.
        unsafe { libc::munmap(p, mlen) };
        Ok(())
    }

    fn write(&mut self, i: usize, mode: IoMode, off: u64, len: u64, seed: u64) -> R<bool> {
        let mut data = vec![0u8; len as usize];
        fill_pattern(seed, &mut data);
        match mode {
            IoMode::Buffered => {
                if let Err(e) = self.fd(i).and_then(|f| f.write_all_at(&data, off)) {
                    return err(i, format!("write failed: {e}"));
                }
            }
            IoMode::Direct => {
                let align = self.cfg.align as usize;
                let f = match self.dfd(i) {
                    Ok(Some(f)) => f,
                    Ok(None) => return Ok(false),
                    Err(e) => return err(i, direct_open_failed(&e)),
                };
                let mut ab = AlignedBuf::new(data.len(), align);
                ab.as_mut(data.len()).copy_from_slice(&data);
                let buf = ab.as_mut(data.len());
                if let Err(e) = f.write_all_at(buf, off) {
                    return err(i, format!("O_DIRECT write failed: {e}"));
                }
            }
            IoMode::Mmap => {
                if self.cfg.shared_size.is_none() && off + len > self.files[i].model.size() {
                    if let Err(e) = self.fd(i).and_then(|f| f.set_len(off + len)) {
                        return err(i, format!("ftruncate before mmap write failed: {e}"));
                    }
                    self.files[i].model.truncate(off + len);
                }
                let actual = self.actual_size(i)?;
                if off + len > actual {
                    return err(
                        i,
                        format!("size is {actual:#x}, expected at least {:#x}", off + len),
                    );
                }
                self.with_map(i, off, len, |m| m.copy_from_slice(&data))?;
            }
        }
        self.files[i].model.write(off, &data);
        Ok(true)
    }
}
