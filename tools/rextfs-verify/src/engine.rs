// SPDX-License-Identifier: GPL-2.0

//! Runs operations against real files and checks them against the models.

use crate::model::{diff, xattr_value, Diff, Model};
use crate::op::{IoMode, Op, XattrMode, XATTR_PREFIX};
use crate::rng::fill_pattern;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
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
    /// Compare the files' `user.` attributes with the models in every full
    /// check (`check`, `remount`); off where attributes are not used
    /// (shared-file mode, `--no-xattr`).
    pub xattr: bool,
    /// Tolerate `ENOSPC` from a setxattr: the model is left unchanged (the
    /// next check proves that nothing changed) and the op is counted apart.
    /// For file systems that keep a file's attributes in one block (ext4
    /// without `ea_inode`); rextfs takes every value the generator makes.
    pub xattr_enospc_ok: bool,
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
    /// Attribute sets refused with ENOSPC and tolerated
    /// (`xattr_enospc_ok`); the model was left unchanged.
    pub enospc: u64,
}

/// What running an op came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ran {
    /// It ran and was checked.
    Done,
    /// The file system refused it as unsupported, tolerated.
    Unsupported,
    /// A setxattr got ENOSPC, tolerated.
    NoSpace,
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

fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EEXIST => "EEXIST",
        libc::ENODATA => "ENODATA",
        libc::ERANGE => "ERANGE",
        libc::ENOSPC => "ENOSPC",
        _ => "another error",
    }
}

fn cname(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check_len(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// fsetxattr(2).
fn fsetxattr(fd: i32, name: &str, value: &[u8], flags: i32) -> io::Result<()> {
    let n = cname(name)?;
    // SAFETY: `n` is a C string, `value` is readable for its length.
    let r = unsafe { libc::fsetxattr(fd, n.as_ptr(), value.as_ptr().cast(), value.len(), flags) };
    check_len(r as isize).map(|_| ())
}

/// fremovexattr(2).
fn fremovexattr(fd: i32, name: &str) -> io::Result<()> {
    let n = cname(name)?;
    // SAFETY: `n` is a C string.
    let r = unsafe { libc::fremovexattr(fd, n.as_ptr()) };
    check_len(r as isize).map(|_| ())
}

/// fgetxattr(2) into `buf`; an empty `buf` asks for the size.
fn fgetxattr(fd: i32, name: &str, buf: &mut [u8]) -> io::Result<usize> {
    let n = cname(name)?;
    // SAFETY: `n` is a C string, `buf` is writable for its length.
    let r = unsafe { libc::fgetxattr(fd, n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    check_len(r)
}

/// flistxattr(2) into `buf`; an empty `buf` asks for the size.
fn flistxattr(fd: i32, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length.
    let r = unsafe { libc::flistxattr(fd, buf.as_mut_ptr().cast(), buf.len()) };
    check_len(r)
}

/// Removes the `user.` attributes a file kept from an earlier run in the
/// same directory: the model of a run starts without any.
fn clear_xattrs(fd: i32) -> io::Result<()> {
    let mut buf = vec![0u8; flistxattr(fd, &mut [])?];
    let n = flistxattr(fd, &mut buf)?;
    for name in buf[..n].split(|&b| b == 0) {
        if name.starts_with(XATTR_PREFIX.as_bytes()) {
            fremovexattr(fd, &String::from_utf8_lossy(name))?;
        }
    }
    Ok(())
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

/// What is wrong with the result of a list or get call into a buffer too
/// short: anything but `ERANGE`.
fn short_buffer(r: io::Result<usize>) -> Option<String> {
    match r {
        Err(e) if e.raw_os_error() == Some(libc::ERANGE) => None,
        Ok(n) => Some(format!("{n} bytes, expected ERANGE")),
        Err(e) => Some(format!("{e}, expected ERANGE")),
    }
}

/// At most this many names in a report of names missing or unexpected.
const NAMES_SHOWN: usize = 3;

fn some_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&String> = names.collect();
    let mut s = v
        .iter()
        .take(NAMES_SHOWN)
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if v.len() > NAMES_SHOWN {
        s += &format!(" and {} more", v.len() - NAMES_SHOWN);
    }
    s
}

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
                    let f = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(&path)?;
                    if cfg.xattr {
                        clear_xattrs(f.as_raw_fd())?;
                    }
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

    /// The models, indexed by file number.
    pub fn models(&self) -> Vec<&Model> {
        self.files.iter().map(|f| &f.model).collect()
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

    fn count(&mut self, op: &Op, ran: Ran) {
        let s = self.stats.entry(op.kind()).or_default();
        match ran {
            Ran::Done => s.done += 1,
            Ran::Unsupported => s.unsupported += 1,
            Ran::NoSpace => s.enospc += 1,
        }
    }

    /// Whether `ENOSPC` from a setxattr is tolerated.
    pub fn xattr_enospc_ok(&self) -> bool {
        self.cfg.xattr_enospc_ok
    }

    /// The descriptor of file `i` for the attribute calls.
    fn raw_fd(&mut self, i: usize) -> R<i32> {
        match self.fd(i) {
            Ok(f) => Ok(f.as_raw_fd()),
            Err(e) => err(i, format!("open failed: {e}")),
        }
    }

    /// setxattr of `name` in `mode`: succeeds, or fails with the error the
    /// model expects (`EEXIST` for a create of an existing name, `ENODATA`
    /// for a replace of a missing one).
    fn xattr_set(&mut self, i: usize, mode: XattrMode, name: &str, len: u64, seed: u64) -> R<Ran> {
        let fd = self.raw_fd(i)?;
        let have = self.files[i].model.xattrs().get(name).is_some();
        let expect = match mode {
            XattrMode::Create if have => Some(libc::EEXIST),
            XattrMode::Replace if !have => Some(libc::ENODATA),
            _ => None,
        };
        let value = xattr_value(seed, len);
        let r = if self.simulated(mode.kind()) {
            Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
        } else {
            fsetxattr(fd, name, &value, mode.flags())
        };
        let what = format!("setxattr({}) of {name} ({len} bytes)", mode.name());
        match (r, expect) {
            (Ok(()), None) => {
                self.files[i].model.xattrs_mut().set(name, len, seed);
                Ok(Ran::Done)
            }
            (Ok(()), Some(x)) => err(i, format!("{what} succeeded, expected {}", errno_name(x))),
            (Err(e), Some(x)) if e.raw_os_error() == Some(x) => Ok(Ran::Done),
            (Err(e), _) if self.cfg.allow_unsupported && is_unsupported(&e) => Ok(Ran::Unsupported),
            (Err(e), None)
                if self.cfg.xattr_enospc_ok && e.raw_os_error() == Some(libc::ENOSPC) =>
            {
                Ok(Ran::NoSpace)
            }
            (Err(e), x) => {
                let want = x.map_or("success", errno_name);
                let hint = if is_unsupported(&e) {
                    " (an unsupported operation fails the run; --allow-unsupported tolerates it)"
                } else if e.raw_os_error() == Some(libc::ENOSPC) {
                    " (--xattr-enospc-ok tolerates it where a file's attributes have little room)"
                } else {
                    ""
                };
                err(i, format!("{what} failed: {e}, expected {want}{hint}"))
            }
        }
    }

    /// removexattr of `name`: succeeds when the model has it, fails with
    /// `ENODATA` when not.
    fn xattr_remove(&mut self, i: usize, name: &str) -> R<Ran> {
        let fd = self.raw_fd(i)?;
        let have = self.files[i].model.xattrs().get(name).is_some();
        let r = if self.simulated("xattr-remove") {
            Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
        } else {
            fremovexattr(fd, name)
        };
        match (r, have) {
            (Ok(()), true) => {
                self.files[i].model.xattrs_mut().remove(name);
                Ok(Ran::Done)
            }
            (Ok(()), false) => err(
                i,
                format!("removexattr of {name} succeeded, but it was not set: expected ENODATA"),
            ),
            (Err(e), false) if e.raw_os_error() == Some(libc::ENODATA) => Ok(Ran::Done),
            (Err(e), _) if self.cfg.allow_unsupported && is_unsupported(&e) => Ok(Ran::Unsupported),
            (Err(e), have) => {
                let want = if have { "success" } else { "ENODATA" };
                err(
                    i,
                    format!("removexattr of {name} failed: {e}, expected {want}"),
                )
            }
        }
    }

    /// Compares the `user.` attributes of file `i` with the model:
    /// listxattr (its size query, the list, `ERANGE` with a buffer a byte
    /// short) must give exactly the model's names; getxattr of each (size
    /// query, value, `ERANGE` a byte short) its value; getxattr of the names
    /// removed `ENODATA`. Names of other namespaces are not ours and are
    /// left alone.
    pub fn check_xattrs(&mut self, i: usize) -> R<()> {
        let fd = self.raw_fd(i)?;
        let size = match flistxattr(fd, &mut []) {
            Ok(n) => n,
            Err(e) => return err(i, format!("listxattr (size) failed: {e}")),
        };
        let mut buf = vec![0u8; size];
        match flistxattr(fd, &mut buf) {
            Ok(n) if n == size => {}
            Ok(n) => {
                return err(
                    i,
                    format!("listxattr gave {n} bytes, its size query {size}"),
                )
            }
            Err(e) => return err(i, format!("listxattr of {size} bytes failed: {e}")),
        }
        if size >= 2 {
            if let Some(what) = short_buffer(flistxattr(fd, &mut vec![0u8; size - 1])) {
                return err(
                    i,
                    format!("listxattr, {} bytes for {size}: {what}", size - 1),
                );
            }
        }
        if buf.last().is_some_and(|&b| b != 0) {
            return err(i, "listxattr: the last name has no NUL".into());
        }
        let mut listed = BTreeSet::new();
        for n in buf.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            let n = String::from_utf8_lossy(n).into_owned();
            if !n.starts_with(XATTR_PREFIX) {
                continue;
            }
            if !listed.insert(n.clone()) {
                return err(i, format!("listxattr gives {n} twice"));
            }
        }
        let x = self.files[i].model.xattrs().clone();
        let want: BTreeSet<String> = x.iter().map(|(n, _, _)| n.to_string()).collect();
        if listed != want {
            let missing = want.difference(&listed);
            let extra = listed.difference(&want);
            return err(
                i,
                format!(
                    "listxattr: {} names, expected {}; missing: [{}]; not expected: [{}]",
                    listed.len(),
                    want.len(),
                    some_names(missing),
                    some_names(extra)
                ),
            );
        }
        for (name, len, seed) in x.iter() {
            match fgetxattr(fd, name, &mut []) {
                Ok(n) if n as u64 == len => {}
                Ok(n) => return err(i, format!("getxattr {name}: size {n}, expected {len}")),
                Err(e) => return err(i, format!("getxattr {name} (size) failed: {e}")),
            }
            let mut got = vec![0u8; len as usize];
            let n = match fgetxattr(fd, name, &mut got) {
                Ok(n) => n,
                Err(e) => return err(i, format!("getxattr {name} ({len} bytes) failed: {e}")),
            };
            got.truncate(n);
            let want = xattr_value(seed, len);
            if let Some(d) = diff(&want, &got, 0, 0, u64::MAX) {
                return Err((
                    Some(i),
                    format!("value of {name} differs ({n} bytes read, {len} expected)"),
                    Some(d),
                ));
            }
            if len >= 2 {
                if let Some(what) = short_buffer(fgetxattr(fd, name, &mut got[..len as usize - 1]))
                {
                    return err(
                        i,
                        format!("getxattr {name}, {} bytes for {len}: {what}", len - 1),
                    );
                }
            }
        }
        for name in x.removed() {
            let what = match fgetxattr(fd, name, &mut []) {
                Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
                Ok(n) => format!("it is back ({n} bytes)"),
                Err(e) => e.to_string(),
            };
            return err(
                i,
                format!("getxattr {name}, removed: {what}, expected ENODATA"),
            );
        }
        Ok(())
    }

    /// The full check of file `i`: data and size, attributes when they are
    /// compared.
    fn check_all(&mut self, i: usize) -> R<()> {
        self.check_file(i)?;
        if self.cfg.xattr {
            self.check_xattrs(i)?;
        }
        Ok(())
    }

    /// Runs op `n`, checks what it read, updates the model.
    #[allow(clippy::result_large_err)]
    pub fn apply(&mut self, n: u64, op: &Op) -> Result<(), Failure> {
        if self.cfg.verbose {
            eprintln!("{n} {op}");
        }
        match self.run(op) {
            Ok(ran) => {
                self.count(op, ran);
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

    /// Runs one op; what it came to, or why it failed.
    fn run(&mut self, op: &Op) -> R<Ran> {
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
                Ok(Ran::Done)
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
                        return Ok(Ran::Unsupported);
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
                Ok(Ran::Done)
            }
            Op::Fsync { file } => match self.fd(file).and_then(|f| f.sync_all()) {
                Ok(()) => Ok(Ran::Done),
                Err(e) => err(file, format!("fsync failed: {e}")),
            },
            Op::Fdatasync { file } => match self.fd(file).and_then(|f| f.sync_data()) {
                Ok(()) => Ok(Ran::Done),
                Err(e) => err(file, format!("fdatasync failed: {e}")),
            },
            Op::Reopen { file } => {
                self.close(file);
                match self.fd(file) {
                    Ok(_) => Ok(Ran::Done),
                    Err(e) => err(file, format!("reopen failed: {e}")),
                }
            }
            Op::Check => {
                for i in 0..self.files.len() {
                    self.check_all(i)?;
                }
                Ok(Ran::Done)
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
                    self.check_all(i)?;
                }
                Ok(Ran::Done)
            }
            Op::Corrupt { file, off } => {
                let b = self.read_buffered(file, off, 1)?;
                let v = b.first().copied().unwrap_or(0) ^ 0xff;
                if let Err(e) = self.fd(file).and_then(|f| f.write_all_at(&[v], off)) {
                    return err(file, format!("corrupt write failed: {e}"));
                }
                self.check_file(file)?;
                Ok(Ran::Done)
            }
            Op::XattrSet {
                file,
                mode,
                ref name,
                len,
                seed,
            } => self.xattr_set(file, mode, name, len, seed),
            Op::XattrRemove { file, ref name } => self.xattr_remove(file, name),
            Op::XattrCheck { file } => {
                self.check_xattrs(file)?;
                Ok(Ran::Done)
            }
        }
    }

    fn read(&mut self, i: usize, mode: IoMode, off: u64, len: u64) -> R<Ran> {
        let got = match mode {
            IoMode::Buffered => self.read_buffered(i, off, len)?,
            IoMode::Direct => {
                let align = self.cfg.align;
                let f = match self.dfd(i) {
                    Ok(Some(f)) => f,
                    Ok(None) => return Ok(Ran::Unsupported),
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
        Ok(Ran::Done)
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

    fn write(&mut self, i: usize, mode: IoMode, off: u64, len: u64, seed: u64) -> R<Ran> {
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
                    Ok(None) => return Ok(Ran::Unsupported),
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
        Ok(Ran::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rextfs-engine-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn engine(dir: &std::path::Path) -> Engine {
        Engine::new(EngineConfig {
            dir: dir.to_path_buf(),
            names: vec!["f".into()],
            shared_size: None,
            region: None,
            remount_cmd: None,
            align: 4096,
            verbose: false,
            allow_unsupported: false,
            simulate_unsupported: Vec::new(),
            xattr: true,
            xattr_enospc_ok: false,
        })
        .unwrap()
    }

    fn set(mode: XattrMode, name: &str, len: u64, seed: u64) -> Op {
        Op::XattrSet {
            file: 0,
            mode,
            name: name.into(),
            len,
            seed,
        }
    }

    fn remove(name: &str) -> Op {
        Op::XattrRemove {
            file: 0,
            name: name.into(),
        }
    }

    /// Changes an attribute of `f` behind the engine's back.
    fn behind(f: &std::path::Path, name: &str, value: Option<&[u8]>) {
        let fd = File::open(f).unwrap();
        match value {
            Some(v) => fsetxattr(fd.as_raw_fd(), name, v, 0).unwrap(),
            None => fremovexattr(fd.as_raw_fd(), name).unwrap(),
        }
    }

    #[test]
    fn attribute_ops_follow_the_model_and_changes_behind_its_back_are_caught() {
        let d = scratch("xattr");
        let f = d.join("f");
        let mut e = engine(&d);
        if fsetxattr(e.raw_fd(0).unwrap(), "user.probe", b"", 0).is_err() {
            // No user attributes on this file system: nothing to check.
            let _ = std::fs::remove_dir_all(&d);
            return;
        }
        fremovexattr(e.raw_fd(0).unwrap(), "user.probe").unwrap();
        let mut n = 0;
        let mut ok = |e: &mut Engine, op: Op| {
            n += 1;
            if let Err(f) = e.apply(n, &op) {
                panic!("{op}: {}", f.what);
            }
        };
        ok(&mut e, set(XattrMode::Any, "user.a", 300, 1));
        // EEXIST and ENODATA, as the model expects: nothing changes.
        ok(&mut e, set(XattrMode::Create, "user.a", 5, 2));
        ok(&mut e, set(XattrMode::Replace, "user.b", 3, 3));
        ok(&mut e, remove("user.b"));
        ok(&mut e, set(XattrMode::Create, "user.b", 0, 4));
        ok(&mut e, set(XattrMode::Replace, "user.b", 17, 5));
        ok(&mut e, Op::XattrCheck { file: 0 });
        ok(&mut e, remove("user.b"));
        ok(&mut e, Op::Check);
        assert_eq!(e.stats["xattr-create"].done, 2);
        assert_eq!(e.files[0].model.xattrs().get("user.a"), Some((300, 1)));
        assert!(e.files[0].model.xattrs().removed().contains("user.b"));

        let check = |e: &mut Engine| e.apply(100, &Op::XattrCheck { file: 0 }).unwrap_err();
        // A value changed behind the model's back.
        let mut v = xattr_value(1, 300);
        v[200] ^= 1;
        behind(&f, "user.a", Some(&v));
        let fail = check(&mut e);
        assert!(
            fail.what.contains("value of user.a differs"),
            "{}",
            fail.what
        );
        assert_eq!(fail.diff.as_ref().map(|d| d.offset), Some(200));
        behind(&f, "user.a", Some(&xattr_value(1, 300)));
        check_ok(&mut e);
        // A name nobody set, a removed one back, a set one gone.
        behind(&f, "user.stray", Some(b"x"));
        let fail = check(&mut e);
        assert!(
            fail.what.contains("not expected: [user.stray]"),
            "{}",
            fail.what
        );
        behind(&f, "user.stray", None);
        behind(&f, "user.b", Some(b""));
        assert!(check(&mut e).what.contains("not expected: [user.b]"));
        behind(&f, "user.b", None);
        behind(&f, "user.a", None);
        assert!(check(&mut e).what.contains("missing: [user.a]"));
        // A create the model expects to succeed on a name that exists.
        behind(&f, "user.c", Some(b"c"));
        let fail = e
            .apply(101, &set(XattrMode::Create, "user.c", 1, 6))
            .unwrap_err();
        assert!(
            fail.what.contains("failed: File exists") && fail.what.contains("expected success"),
            "{}",
            fail.what
        );
        // A remove the model expects to fail with ENODATA.
        let fail = e.apply(102, &remove("user.c")).unwrap_err();
        assert!(fail.what.contains("expected ENODATA"), "{}", fail.what);
        // A new engine in the same directory starts without attributes.
        behind(&f, "user.left", Some(b"over"));
        let mut e = engine(&d);
        e.apply(1, &Op::Check).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn check_ok(e: &mut Engine) {
        if let Err(f) = e.apply(100, &Op::XattrCheck { file: 0 }) {
            panic!("{}", f.what);
        }
    }

    #[test]
    fn refused_attribute_ops_fail_unless_tolerated() {
        let d = scratch("xattr-refused");
        let mut e = engine(&d);
        e.cfg.simulate_unsupported = vec!["xattr-set".into(), "xattr-remove".into()];
        let fail = e
            .apply(1, &set(XattrMode::Any, "user.a", 1, 1))
            .unwrap_err();
        assert!(
            fail.what.contains("Operation not supported"),
            "{}",
            fail.what
        );
        e.cfg.allow_unsupported = true;
        e.apply(2, &set(XattrMode::Any, "user.a", 1, 1)).unwrap();
        e.apply(3, &remove("user.a")).unwrap();
        assert_eq!(e.stats["xattr-set"].unsupported, 1);
        assert_eq!(e.stats["xattr-remove"].unsupported, 1);
        assert!(e.files[0].model.xattrs().is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
