// SPDX-License-Identifier: GPL-2.0

//! A small getopt-style command line parser (short options only, grouped
//! flags, option arguments attached or separate, options and operands in
//! any order, `--` ends options).

/// Options of `mkfs.rextfs` without an argument (for [`parse`]).
pub const MKFS_FLAGS: &str = "fqhV";
/// Options of `mkfs.rextfs` taking an argument.
pub const MKFS_WITH_ARG: &str = "bLUNJE";
/// Options of `fsck.rextfs` without an argument. `-s`, `-T`, `-M` and `-N`
/// are fsck(8)'s own and accepted (and ignored) should they be passed on.
pub const FSCK_FLAGS: &str = "nypafvVsTMN";
/// Options of `fsck.rextfs` taking an argument.
pub const FSCK_WITH_ARG: &str = "C";
/// Options of `rextfs-dump`.
pub const DUMP_FLAGS: &str = "h";
/// What `rextfs-dump` prints: its second operand.
pub const DUMP_COMMANDS: [&str; 6] = ["sb", "inode", "dir", "tree", "bitmap", "journal"];

/// Parsed command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Options in order, with their argument if they take one.
    pub opts: Vec<(char, Option<String>)>,
    /// Operands.
    pub operands: Vec<String>,
}

/// Parses `args` (without the program name). `with_arg` lists the options
/// taking an argument, `flags` those that do not.
pub fn parse(args: &[String], flags: &str, with_arg: &str) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let mut i = 0;
    let mut only_operands = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if only_operands || a == "-" || !a.starts_with('-') {
            p.operands.push(a.clone());
            continue;
        }
        if a == "--" {
            only_operands = true;
            continue;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            if with_arg.contains(c) {
                let rest: String = chars[j..].iter().collect();
                let val = if !rest.is_empty() {
                    rest
                } else if i < args.len() {
                    i += 1;
                    args[i - 1].clone()
                } else {
                    return Err(format!("option -{c} requires an argument"));
                };
                p.opts.push((c, Some(val)));
                break;
            } else if flags.contains(c) {
                p.opts.push((c, None));
            } else {
                return Err(format!("invalid option -- '{c}'"));
            }
        }
    }
    Ok(p)
}

/// Parses a size with an optional k/m/g suffix (powers of 1024).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// Parses the argument of `mkfs.rextfs -J`: `size=N`, the journal size in
/// MiB (mke2fs's form). Returns the size in MiB.
pub fn parse_journal_opts(s: &str) -> Result<u64, String> {
    let mut size = None;
    for opt in s.split(',') {
        match opt.split_once('=') {
            Some(("size", v)) => {
                size = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("invalid journal size '{v}' (a number of MiB)"))?,
                )
            }
            _ => return Err(format!("unknown journal option '{opt}' (size=MiB)")),
        }
    }
    size.ok_or_else(|| "journal options without size=".to_string())
}

/// Parses the argument of `mkfs.rextfs -E`: `hash_key=K`, the directory
/// hash key as 32 hex digits. Returns the key.
pub fn parse_extended_opts(s: &str) -> Result<[u8; 16], String> {
    let mut key = None;
    for opt in s.split(',') {
        match opt.split_once('=') {
            Some(("hash_key", v)) => {
                key = Some(
                    parse_hex16(v)
                        .ok_or_else(|| format!("invalid hash key '{v}' (32 hex digits)"))?,
                )
            }
            _ => return Err(format!("unknown extended option '{opt}' (hash_key=HEX)")),
        }
    }
    key.ok_or_else(|| "extended options without hash_key=".to_string())
}

/// Parses 16 bytes written as exactly 32 hex digits.
pub fn parse_hex16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    parse_uuid(s)
}

/// Parses a UUID written as 32 hex digits with optional dashes.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s.bytes().filter(|&c| c != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let txt = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(txt, 16).ok()?;
    }
    Some(out)
}

/// Formats a UUID in the usual 8-4-4-4-12 form.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let h: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}
