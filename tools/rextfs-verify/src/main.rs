// SPDX-License-Identifier: GPL-2.0

//! rextfs-verify command line. See `rextfs-verify --help`.

use rextfs_verify::engine::EngineConfig;
use rextfs_verify::op::{parse_num, GenConfig, XATTR_NAMES_MAX, XATTR_SIZE_MAX};
use rextfs_verify::{print_failure, replay, run_seeded, OpLog, Outcome};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

const HELP: &str = "\
usage: rextfs-verify [options] DIR
       rextfs-verify --replay LOG [--remount-cmd CMD] [-v] DIR

Runs a seeded random sequence of file operations on files in DIR and checks
every read, and periodically every whole file, against an in-memory model.

  --seed N            generator seed (default: random, printed)
  --ops N             number of operations per process (default 10000)
  --files N           files per process (default 1)
  --procs N           run N processes, each on its own files (default 1)
  --shared            with --procs: all processes share one file, each in
                      its own disjoint range (no size changes then)
  --max-size S        largest file size, k/m suffixes (default 256k)
  --max-len S         largest single I/O (default 64k)
  --align N           O_DIRECT alignment (default 4096)
  --no-buffered --no-direct --no-mmap --no-falloc --no-truncate
  --no-sync --no-reopen --no-xattr
                      leave that kind of operation out (--no-xattr also
                      gives the op sequences of seeds from before the
                      attribute ops)
  --xattr-names N     at most N user. attributes per file (default 32,
                      at most 64: rextfs never refuses a set within that)
  --xattr-max-value S longest attribute value, k suffix (default 64k, the
                      most Linux allows)
  --xattr-enospc-ok   tolerate ENOSPC from setxattr (the attributes must
                      be unchanged): for file systems that keep a file's
                      attributes in one block, like ext4 without ea_inode
  --check-every N     compare whole files every N ops (default 200, 0: end only)
  --remount-cmd CMD   shell command run by remount ops, all files closed
                      (e.g. 'umount /mnt && mount /dev/vdb /mnt')
  --remount-every N   a remount op every N ops (default 500 with --remount-cmd)
  --prefix NAME       file name prefix (default 'verify')
  --log-dir D         where a failing run saves its op log (default: TMPDIR)
  --log FILE          also save the op log of a successful run
  --replay LOG        run the ops of a saved log instead of generating them
  --allow-unsupported tolerate fallocate modes and attribute changes
                      refused with EOPNOTSUPP or ENOSYS and an O_DIRECT
                      open refused with EINVAL:
                      count and report them, leave the model unchanged
                      (for filesystems that lack them; off by default)
  --inject-corruption N  test the checker: flip a byte behind the model's
                      back at op N; the run must then fail
  --simulate-unsupported KIND[,KIND]  test the strict mode: treat these op
                      kinds (falloc-punch, read-direct...) as refused by
                      the filesystem
  -v, --verbose       print every op

Attribute ops (not in --shared mode): setxattr of user. names of 6 to
255 bytes with values of 0 to 64 KiB, with flags 0, XATTR_CREATE (EEXIST
expected on an existing name) and XATTR_REPLACE (ENODATA expected on a
missing one), removexattr (ENODATA expected on a missing name), and a
check of listxattr and getxattr of every name against the model, also part
of every full check and remount.

Every run prints how often each kind of operation ran. By default an
operation the filesystem refuses as unsupported fails the run like any
other error, and so does a run that completes without running every kind
of operation it was asked to run at least once (leave kinds out with the
--no-* options, or run more ops).
Exit status: 0 all ops verified, 1 a check or an operation failed, or a
requested kind never ran, 2 usage.";

#[derive(Clone, Debug)]
struct Opts {
    seed: Option<u64>,
    ops: u64,
    files: usize,
    procs: usize,
    shared: bool,
    gen: GenConfig,
    remount_cmd: Option<String>,
    prefix: String,
    log_dir: Option<PathBuf>,
    log: Option<PathBuf>,
    replay: Option<PathBuf>,
    worker: Option<usize>,
    verbose: bool,
    allow_unsupported: bool,
    simulate_unsupported: Vec<String>,
    xattr_enospc_ok: bool,
    dir: Option<PathBuf>,
    /// Flags to pass on to worker processes.
    passthrough: Vec<String>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&s[..s.len() - 1], 1 << 20),
        Some('g' | 'G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    parse_num(num)?
        .checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s}"))
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        seed: None,
        ops: 10000,
        files: 1,
        procs: 1,
        shared: false,
        gen: GenConfig::default(),
        remount_cmd: None,
        prefix: "verify".into(),
        log_dir: None,
        log: None,
        replay: None,
        worker: None,
        verbose: false,
        allow_unsupported: false,
        simulate_unsupported: Vec::new(),
        xattr_enospc_ok: false,
        dir: None,
        passthrough: Vec::new(),
    };
    let mut remount_every = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        let mut val = || -> Result<String, String> {
            i += 1;
            args.get(i - 1)
                .cloned()
                .ok_or_else(|| format!("option {a} needs a value"))
        };
        let pass_flag = matches!(
            a,
            "--no-buffered"
                | "--no-direct"
                | "--no-mmap"
                | "--no-falloc"
                | "--no-truncate"
                | "--no-sync"
                | "--no-reopen"
                | "--no-xattr"
                | "--xattr-enospc-ok"
        );
        match a {
            "-h" | "--help" => return Err(String::new()),
            "--seed" => o.seed = Some(parse_num(&val()?)?),
            "--ops" => o.ops = parse_num(&val()?)?,
            "--files" => o.files = parse_num(&val()?)? as usize,
            "--procs" => o.procs = parse_num(&val()?)? as usize,
            "--shared" => o.shared = true,
            "--max-size" => o.gen.max_size = parse_size(&val()?)?,
            "--max-len" => o.gen.max_len = parse_size(&val()?)?,
            "--align" => o.gen.align = parse_num(&val()?)?,
            "--no-buffered" => o.gen.buffered = false,
            "--no-direct" => o.gen.direct = false,
            "--no-mmap" => o.gen.mmap = false,
            "--no-falloc" => o.gen.falloc = false,
            "--no-truncate" => o.gen.truncate = false,
            "--no-sync" => o.gen.sync = false,
            "--no-reopen" => o.gen.reopen = false,
            "--no-xattr" => o.gen.xattr = false,
            "--xattr-names" => o.gen.xattr_names = parse_num(&val()?)? as usize,
            "--xattr-max-value" => o.gen.xattr_max_value = parse_size(&val()?)?,
            "--xattr-enospc-ok" => o.xattr_enospc_ok = true,
            "--check-every" => o.gen.check_every = parse_num(&val()?)?,
            "--remount-cmd" => o.remount_cmd = Some(val()?),
            "--remount-every" => remount_every = Some(parse_num(&val()?)?),
            "--prefix" => o.prefix = val()?,
            "--log-dir" => o.log_dir = Some(PathBuf::from(val()?)),
            "--log" => o.log = Some(PathBuf::from(val()?)),
            "--replay" => o.replay = Some(PathBuf::from(val()?)),
            "--inject-corruption" => o.gen.inject_at = Some(parse_num(&val()?)?),
            "--worker" => o.worker = Some(parse_num(&val()?)? as usize),
            "-v" | "--verbose" => o.verbose = true,
            "--allow-unsupported" => o.allow_unsupported = true,
            "--simulate-unsupported" => {
                o.simulate_unsupported = val()?.split(',').map(String::from).collect()
            }
            _ if a.starts_with('-') => return Err(format!("unknown option {a}")),
            _ => {
                if o.dir.is_some() {
                    return Err("only one DIR".into());
                }
                o.dir = Some(PathBuf::from(a));
            }
        }
        if pass_flag {
            o.passthrough.push(a.to_string());
        }
    }
    if o.dir.is_none() {
        return Err("no DIR given".into());
    }
    if o.files == 0 || o.procs == 0 || o.gen.align == 0 || !o.gen.align.is_power_of_two() {
        return Err("--files and --procs must be > 0, --align a power of two".into());
    }
    if o.gen.max_size < o.gen.align || o.gen.max_len == 0 {
        return Err("--max-size must be at least --align and --max-len > 0".into());
    }
    if !(1..=XATTR_NAMES_MAX).contains(&o.gen.xattr_names) {
        return Err(format!("--xattr-names must be 1 to {XATTR_NAMES_MAX}"));
    }
    if o.gen.xattr_max_value > XATTR_SIZE_MAX {
        return Err(format!(
            "--xattr-max-value must be at most {XATTR_SIZE_MAX}"
        ));
    }
    o.gen.max_size = o.gen.max_size.div_ceil(o.gen.align) * o.gen.align;
    o.gen.files = o.files;
    if o.remount_cmd.is_some() {
        if o.procs > 1 {
            return Err("--remount-cmd works with one process only".into());
        }
        o.gen.remount_every = remount_every.unwrap_or(500);
    } else if remount_every.is_some_and(|n| n > 0) {
        return Err("--remount-every needs --remount-cmd".into());
    }
    if o.shared && o.files != 1 {
        return Err("--shared uses one file".into());
    }
    Ok(o)
}

fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut r =
        rextfs_verify::rng::Rng::new(t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32));
    r.next_u64() & 0xffff_ffff
}

/// Seed of worker `k` of a multi-process run seeded with `seed`.
fn worker_seed(seed: u64, k: usize) -> u64 {
    seed.wrapping_add((k as u64).wrapping_mul(0x1_0000_0001))
}

fn region(o: &Opts, k: usize) -> (u64, u64) {
    (k as u64 * o.gen.max_size, (k as u64 + 1) * o.gen.max_size)
}

fn print_stats(o: &Outcome, who: &str) {
    let full = o.enospc();
    if !full.is_empty() {
        let v: Vec<String> = full.iter().map(|(k, n)| format!("{k} x{n}")).collect();
        println!(
            "rextfs-verify: {who}refused with ENOSPC (tolerated, attributes unchanged): {}",
            v.join(", ")
        );
    }
    let unsup = o.unsupported();
    if !unsup.is_empty() || o.direct_refused {
        let mut v: Vec<String> = unsup.iter().map(|(k, n)| format!("{k} x{n}")).collect();
        if o.direct_refused {
            v.push("(O_DIRECT open refused with EINVAL)".into());
        }
        println!(
            "rextfs-verify: {who}unsupported by the filesystem (tolerated): {}",
            v.join(", ")
        );
    }
    let v: Vec<String> = o.counts().iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("rextfs-verify: {who}ops run: {}", v.join(", "));
}

fn rerun_line(o: &Opts, seed: u64, ops: u64, dir: &Path) -> String {
    let mut s = format!("rextfs-verify --seed {seed:#x} --ops {ops}");
    let d = GenConfig::default();
    if o.files != 1 {
        s += &format!(" --files {}", o.files);
    }
    if o.gen.max_size != d.max_size {
        s += &format!(" --max-size {}", o.gen.max_size);
    }
    if o.gen.max_len != d.max_len {
        s += &format!(" --max-len {}", o.gen.max_len);
    }
    if o.gen.align != d.align {
        s += &format!(" --align {}", o.gen.align);
    }
    if o.gen.check_every != d.check_every {
        s += &format!(" --check-every {}", o.gen.check_every);
    }
    if o.gen.xattr_names != d.xattr_names {
        s += &format!(" --xattr-names {}", o.gen.xattr_names);
    }
    if o.gen.xattr_max_value != d.xattr_max_value {
        s += &format!(" --xattr-max-value {}", o.gen.xattr_max_value);
    }
    for p in &o.passthrough {
        s += &format!(" {p}");
    }
    if let Some(c) = &o.remount_cmd {
        s += &format!(
            " --remount-cmd '{c}' --remount-every {}",
            o.gen.remount_every
        );
    }
    if o.allow_unsupported {
        s += " --allow-unsupported";
    }
    if !o.simulate_unsupported.is_empty() {
        s += &format!(
            " --simulate-unsupported {}",
            o.simulate_unsupported.join(",")
        );
    }
    if let Some(n) = o.gen.inject_at {
        s += &format!(" --inject-corruption {n}");
    }
    if o.worker.is_some() {
        s += " (one worker of a multi-process run: use --replay)";
    }
    s + &format!(" {}", dir.display())
}

fn run_one(o: &Opts) -> Result<bool, String> {
    let dir = o.dir.clone().unwrap();
    let log_dir = o.log_dir.clone().unwrap_or_else(std::env::temp_dir);
    let who = match o.worker {
        Some(k) => format!("worker {k}: "),
        None => String::new(),
    };
    let eng_base = EngineConfig {
        dir: dir.clone(),
        names: Vec::new(),
        shared_size: None,
        region: None,
        remount_cmd: o.remount_cmd.clone(),
        align: o.gen.align,
        verbose: o.verbose,
        allow_unsupported: o.allow_unsupported,
        simulate_unsupported: o.simulate_unsupported.clone(),
        xattr: false,
        xattr_enospc_ok: o.xattr_enospc_ok,
    };
    let (outcome, rerun) = if let Some(path) = &o.replay {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let log = OpLog::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let n = log.ops.len();
        println!(
            "rextfs-verify: replaying {n} ops from {} in {}",
            path.display(),
            dir.display()
        );
        (
            replay(log, eng_base, &log_dir).map_err(|e| e.to_string())?,
            String::new(),
        )
    } else {
        let seed = o.seed.unwrap_or_else(random_seed);
        let (names, shared_size, region) = match o.worker {
            Some(k) if o.shared => (
                vec![format!("{}.shared", o.prefix)],
                Some(o.procs as u64 * o.gen.max_size),
                Some(region(o, k)),
            ),
            Some(k) => (
                (0..o.files)
                    .map(|j| format!("{}.p{k}.{j}", o.prefix))
                    .collect(),
                None,
                None,
            ),
            None => (
                (0..o.files).map(|j| format!("{}.{j}", o.prefix)).collect(),
                None,
                None,
            ),
        };
        let mut gen = o.gen.clone();
        gen.region = region;
        let eng = EngineConfig {
            names,
            shared_size,
            region,
            xattr: gen.xattr && region.is_none(),
            ..eng_base
        };
        println!(
            "rextfs-verify: {who}seed {seed:#x}, {} ops, {} file(s) in {}",
            o.ops,
            eng.names.len(),
            dir.display()
        );
        let out = run_seeded(gen, eng, seed, o.ops, &log_dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let n = out.failure.as_ref().map(|f| f.0.op_no).unwrap_or(o.ops);
        let rerun = rerun_line(o, seed, n, &dir);
        (out, rerun)
    };
    if let Some(p) = &o.log {
        if let Err(e) = std::fs::write(p, outcome.log.to_text()) {
            eprintln!("rextfs-verify: cannot write {}: {e}", p.display());
        }
    }
    print_stats(&outcome, &who);
    match &outcome.failure {
        Some((f, path)) => {
            print_failure(&outcome, f, path.as_deref(), &dir, &rerun);
            Ok(false)
        }
        None if !outcome.missing().is_empty() => {
            eprintln!(
                "rextfs-verify: {who}FAILED: {} ops verified, but these requested kinds never ran: {} \
                 (leave them out with --no-*, or run more ops)",
                outcome.ops,
                outcome.missing().join(", ")
            );
            eprintln!("rextfs-verify:   rerun: {rerun}");
            Ok(false)
        }
        None => {
            println!(
                "rextfs-verify: {who}OK, {} ops verified, every requested kind ran",
                outcome.ops
            );
            Ok(true)
        }
    }
}

fn run_procs(o: &Opts, args: &[String]) -> Result<bool, String> {
    let dir = o.dir.clone().unwrap();
    let seed = o.seed.unwrap_or_else(random_seed);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    println!(
        "rextfs-verify: seed {seed:#x}, {} processes{}, {} ops each",
        o.procs,
        if o.shared { " sharing one file" } else { "" },
        o.ops
    );
    if o.shared {
        let p = dir.join(format!("{}.shared", o.prefix));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p);
        f.and_then(|f| f.set_len(o.procs as u64 * o.gen.max_size))
            .map_err(|e| format!("{}: {e}", p.display()))?;
    }
    // Workers get the same arguments minus --seed/--procs handling.
    let mut base: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--seed" {
            i += 2;
            continue;
        }
        base.push(args[i].clone());
        i += 1;
    }
    let mut children: Vec<(usize, Child)> = Vec::new();
    for k in 0..o.procs {
        let c = Command::new(&exe)
            .args(&base)
            .arg("--seed")
            .arg(format!("{:#x}", worker_seed(seed, k)))
            .arg("--worker")
            .arg(k.to_string())
            .spawn()
            .map_err(|e| format!("cannot start worker {k}: {e}"))?;
        children.push((k, c));
    }
    let mut failed = Vec::new();
    let start = Instant::now();
    while !children.is_empty() {
        let mut i = 0;
        while i < children.len() {
            match children[i].1.try_wait() {
                Ok(Some(st)) => {
                    let (k, _) = children.remove(i);
                    if !st.success() {
                        failed.push(k);
                    }
                }
                Ok(None) => i += 1,
                Err(e) => return Err(e.to_string()),
            }
        }
        if !failed.is_empty() {
            // Stop the others: the first failure is what matters.
            for (_, c) in &mut children {
                let _ = c.kill();
                let _ = c.wait();
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if failed.is_empty() {
        println!(
            "rextfs-verify: OK, {} processes x {} ops in {:.1}s",
            o.procs,
            o.ops,
            start.elapsed().as_secs_f64()
        );
        Ok(true)
    } else {
        eprintln!(
            "rextfs-verify: FAILED: worker(s) {failed:?} (seed {seed:#x}; see their reports above)"
        );
        Ok(false)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("rextfs-verify: {e}\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let r = if o.procs > 1 && o.worker.is_none() && o.replay.is_none() {
        run_procs(&o, &args)
    } else {
        run_one(&o)
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rextfs-verify: {e}");
            ExitCode::from(1)
        }
    }
}
