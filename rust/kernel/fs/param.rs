// SPDX-License-Identifier: GPL-2.0

//! Mount options: typed parameter tables turned into C `fs_parameter_spec` arrays, and the
//! values parsed from them.
//!
//! A file system describes its options as a `static` [`ParamTable`] of [`Param`]s and names it
//! in [`FileSystem::PARAMETERS`](super::FileSystem::PARAMETERS). The glue installs
//! `fs_context_operations.parse_param`, which parses each option with the C parser
//! (`__fs_parse`: flags, `no` prefixes, numbers, enumerations, strings, and the error
//! messages for bad values) and stores the result in a [`MountOptions`] kept in the
//! `fs_context`. An option not in the table is left to the VFS, which refuses it with
//! `EINVAL` and logs `<fs>: Unknown parameter '<name>'`.
//!
//! The parsed options are seen by `fill_super` through
//! [`SuperBlock::mount_options`](super::SuperBlock::mount_options) and, on remount, by
//! [`FileSystem::reconfigure`](super::FileSystem::reconfigure). Only options given on the
//! command line are present, so a remount keeps what it does not mention.
//!
//! # Examples
//!
//! ```ignore
//! use kernel::fs::param::{EnumTable, Param, ParamTable};
//! static ERRORS: EnumTable = EnumTable::new(&[(c"continue", 0), (c"remount-ro", 1)]);
//! static PARAMS: ParamTable = ParamTable::new(&[
//!     Param::enumeration(c"errors", &ERRORS), // index 0
//!     Param::flag_no(c"discard"),             // index 1: "discard" and "nodiscard"
//! ]);
//! // In fill_super: sb.mount_options().and_then(|o| o.enumeration(0))
//! ```
//!
//! C header: [`include/linux/fs_parser.h`](srctree/include/linux/fs_parser.h).

use crate::{bindings, prelude::*, str::CString};

/// The largest number of parameters in a [`ParamTable`].
pub const MAX_PARAMS: usize = 16;

/// The largest number of values in an [`EnumTable`].
pub const MAX_ENUM_VALUES: usize = 16;

/// The values of an enumeration parameter (a NUL-terminated C `constant_table`).
pub struct EnumTable {
    table: [bindings::constant_table; MAX_ENUM_VALUES + 1],
    len: usize,
}

// SAFETY: The table is immutable and only points to static C strings.
unsafe impl Sync for EnumTable {}
// SAFETY: As above.
unsafe impl Send for EnumTable {}

const NO_CONSTANT: bindings::constant_table = bindings::constant_table {
    name: core::ptr::null(),
    value: 0,
};

impl EnumTable {
    /// Builds the table from `(name, value)` pairs. Fails to build (at compile time when used
    /// in a `static`) with more than [`MAX_ENUM_VALUES`] values.
    pub const fn new(values: &[(&'static CStr, i32)]) -> Self {
        assert!(values.len() <= MAX_ENUM_VALUES);
        let mut table = [NO_CONSTANT; MAX_ENUM_VALUES + 1];
        let mut i = 0;
        while i < values.len() {
            table[i] = bindings::constant_table {
                // `CStrExt::as_char_ptr` is not `const`; the cast gives the same pointer.
                #[allow(clippy::disallowed_methods)]
                name: values[i].0.as_ptr().cast(),
                value: values[i].1,
            };
            i += 1;
        }
        Self {
            table,
            len: values.len(),
        }
    }

    /// Returns the name of `value`, e.g. for `show_options`.
    pub fn name_of(&self, value: i32) -> Option<&'static CStr> {
        self.table[..self.len]
            .iter()
            .find(|c| c.value == value)
            // SAFETY: Every entry below `len` was built from a `&'static CStr`.
            .map(|c| unsafe { CStr::from_char_ptr(c.name) })
    }
}

/// The kind of value a [`Param`] takes.
#[derive(Clone, Copy)]
pub enum ParamKind {
    /// A flag without value (`fsparam_flag`): `name`.
    Flag,
    /// A flag that may be negated (`fsparam_flag_no`): `name` or `noname`.
    FlagNo,
    /// An unsigned 32-bit number (`fsparam_u32`): `name=N`.
    U32,
    /// A string (`fsparam_string`): `name=text`.
    String,
    /// One of the names of an enumeration (`fsparam_enum`): `name=value`.
    Enum(&'static EnumTable),
}

/// One mount option: its name and the kind of value it takes.
#[derive(Clone, Copy)]
pub struct Param {
    name: &'static CStr,
    kind: ParamKind,
}

impl Param {
    /// A flag without value (`fsparam_flag`).
    pub const fn flag(name: &'static CStr) -> Self {
        Self {
            name,
            kind: ParamKind::Flag,
        }
    }

    /// A flag that also accepts a `no` prefix (`fsparam_flag_no`).
    pub const fn flag_no(name: &'static CStr) -> Self {
        Self {
            name,
            kind: ParamKind::FlagNo,
        }
    }

    /// An unsigned 32-bit number (`fsparam_u32`).
    pub const fn u32(name: &'static CStr) -> Self {
        Self {
            name,
            kind: ParamKind::U32,
        }
    }

    /// A string (`fsparam_string`).
    pub const fn string(name: &'static CStr) -> Self {
        Self {
            name,
            kind: ParamKind::String,
        }
    }

    /// One of the names in `values` (`fsparam_enum`).
    pub const fn enumeration(name: &'static CStr, values: &'static EnumTable) -> Self {
        Self {
            name,
            kind: ParamKind::Enum(values),
        }
    }

    /// Returns the name.
    pub fn name(&self) -> &'static CStr {
        self.name
    }

    /// Returns the kind.
    pub fn kind(&self) -> ParamKind {
        self.kind
    }

    const fn spec(&self, opt: u8) -> bindings::fs_parameter_spec {
        let (type_, flags, data): (bindings::fs_param_type, u32, *const c_void) = match self.kind {
            ParamKind::Flag => (None, 0, core::ptr::null()),
            ParamKind::FlagNo => (None, bindings::fs_param_neg_with_no, core::ptr::null()),
            ParamKind::U32 => (Some(bindings::fs_param_is_u32), 0, core::ptr::null()),
            ParamKind::String => (Some(bindings::fs_param_is_string), 0, core::ptr::null()),
            ParamKind::Enum(t) => (Some(bindings::fs_param_is_enum), 0, t.table.as_ptr().cast()),
        };
        bindings::fs_parameter_spec {
            // `CStrExt::as_char_ptr` is not `const`; the cast gives the same pointer.
            #[allow(clippy::disallowed_methods)]
            name: self.name.as_ptr().cast(),
            type_,
            opt,
            flags: flags as u16,
            data,
        }
    }
}

const NO_SPEC: bindings::fs_parameter_spec = bindings::fs_parameter_spec {
    name: core::ptr::null(),
    type_: None,
    opt: 0,
    flags: 0,
    data: core::ptr::null(),
};

/// A file system's mount options: the Rust description and the C `fs_parameter_spec` array
/// (terminated by an empty entry) built from it at compile time. The `opt` number of each C
/// entry is the index of the parameter in the table.
pub struct ParamTable {
    specs: [bindings::fs_parameter_spec; MAX_PARAMS + 1],
    params: &'static [Param],
}

// SAFETY: The table is immutable and only points to static data.
unsafe impl Sync for ParamTable {}
// SAFETY: As above.
unsafe impl Send for ParamTable {}

impl ParamTable {
    /// Builds the table. Fails to build (at compile time when used in a `static`) with more
    /// than [`MAX_PARAMS`] parameters.
    pub const fn new(params: &'static [Param]) -> Self {
        assert!(params.len() <= MAX_PARAMS);
        let mut specs = [NO_SPEC; MAX_PARAMS + 1];
        let mut i = 0;
        while i < params.len() {
            specs[i] = params[i].spec(i as u8);
            i += 1;
        }
        Self { specs, params }
    }

    /// Returns the parameters.
    pub fn params(&self) -> &'static [Param] {
        self.params
    }

    /// Returns the C table, for `__fs_parse`.
    pub fn as_raw(&self) -> *const bindings::fs_parameter_spec {
        self.specs.as_ptr()
    }

    /// Returns the C entry `index` (for tests and the glue).
    pub fn spec(&self, index: usize) -> Option<&bindings::fs_parameter_spec> {
        self.specs.get(index)
    }
}

/// A parsed option value.
#[derive(Debug)]
pub enum Value {
    /// A flag: `true` for `name`, `false` for `noname`.
    Flag(bool),
    /// A number.
    U32(u32),
    /// The value of the enumeration entry given.
    Enum(i32),
    /// A string.
    String(CString),
}

/// The options given to one mount or remount, by parameter index.
pub struct MountOptions {
    values: [Option<Value>; MAX_PARAMS],
}

impl Default for MountOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl MountOptions {
    /// No option given.
    pub const fn new() -> Self {
        Self {
            values: [const { None }; MAX_PARAMS],
        }
    }

    /// Returns the value of parameter `index`, if it was given.
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index)?.as_ref()
    }

    /// Records the value of parameter `index` (a later one replaces an earlier one, as when
    /// an option is given twice). `EINVAL` if `index` is out of range.
    pub fn set(&mut self, index: usize, value: Value) -> Result {
        *self.values.get_mut(index).ok_or(EINVAL)? = Some(value);
        Ok(())
    }

    /// Returns the flag `index`, if given.
    pub fn flag(&self, index: usize) -> Option<bool> {
        match self.get(index)? {
            Value::Flag(b) => Some(*b),
            _ => None,
        }
    }

    /// Returns the number `index`, if given.
    pub fn u32(&self, index: usize) -> Option<u32> {
        match self.get(index)? {
            Value::U32(v) => Some(*v),
            _ => None,
        }
    }

    /// Returns the value of enumeration `index`, if given.
    pub fn enumeration(&self, index: usize) -> Option<i32> {
        match self.get(index)? {
            Value::Enum(v) => Some(*v),
            _ => None,
        }
    }

    /// Returns the string `index`, if given.
    pub fn string(&self, index: usize) -> Option<&CStr> {
        match self.get(index)? {
            Value::String(s) => Some(&**s),
            _ => None,
        }
    }

    /// Tells whether no option was given.
    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }
}

/// Parses one option against `table` into `opts` (the body of `->parse_param`), logging
/// bad values to `log`. Returns `ENOPARAM` for an option not in the table, which the VFS turns
/// into `EINVAL` with an "Unknown parameter" message.
///
/// # Safety
///
/// `log` must be valid (e.g. `&fc->log`) and `param` a valid parameter of a `->parse_param`
/// call, for the duration of the call.
pub(crate) unsafe fn parse(
    table: &ParamTable,
    opts: &mut MountOptions,
    log: *mut bindings::p_log,
    param: *mut bindings::fs_parameter,
) -> Result {
    let mut result: bindings::fs_parse_result = pin_init::zeroed();
    // SAFETY: `log` and `param` are valid; the table is terminated by an empty entry.
    let opt = unsafe { bindings::__fs_parse(log, table.as_raw(), param, &mut result) };
    if opt < 0 {
        return Err(Error::from_errno(opt));
    }
    let index = opt as usize;
    let p = table.params.get(index).ok_or(EINVAL)?;
    let value = match p.kind {
        ParamKind::Flag | ParamKind::FlagNo => Value::Flag(!result.negated),
        // SAFETY: `__fs_parse` filled the member of the union that matches the type.
        ParamKind::U32 => Value::U32(unsafe { result.__bindgen_anon_1.uint_32 }),
        // SAFETY: As above.
        ParamKind::Enum(_) => Value::Enum(unsafe { result.__bindgen_anon_1.int_32 }),
        ParamKind::String => {
            // SAFETY: `fs_param_is_string` accepted the value, so it is a C string.
            let s = unsafe { CStr::from_char_ptr((*param).__bindgen_anon_1.string) };
            Value::String(CString::try_from(s)?)
        }
    };
    opts.set(index, value)
}

#[kunit_tests(rust_fs_param)]
mod tests {
    use super::*;

    static MODES: EnumTable = EnumTable::new(&[(c"continue", 0), (c"remount-ro", 1)]);
    static TABLE: ParamTable = ParamTable::new(&[
        Param::enumeration(c"errors", &MODES),
        Param::flag(c"debug"),
        Param::flag_no(c"discard"),
        Param::u32(c"commit"),
        Param::string(c"label"),
    ]);

    #[test]
    fn spec_array_matches_the_c_macros() {
        let e = TABLE.spec(0).unwrap();
        assert_eq!(e.opt, 0);
        assert!(e.type_.is_some());
        assert!(core::ptr::eq(e.data, MODES.table.as_ptr().cast()));
        // fsparam_flag: no type, no flags.
        let f = TABLE.spec(1).unwrap();
        assert_eq!(f.opt, 1);
        assert!(f.type_.is_none());
        assert_eq!(f.flags, 0);
        // fsparam_flag_no: negatable.
        let n = TABLE.spec(2).unwrap();
        assert_eq!(u32::from(n.flags), bindings::fs_param_neg_with_no);
        assert!(TABLE.spec(3).unwrap().type_.is_some());
        assert!(TABLE.spec(4).unwrap().type_.is_some());
        // Terminated by an empty entry.
        assert!(TABLE.spec(5).unwrap().name.is_null());
        assert!(TABLE.spec(MAX_PARAMS).unwrap().name.is_null());
        assert_eq!(TABLE.params().len(), 5);
        // SAFETY: The names are static C strings.
        let name = unsafe { CStr::from_char_ptr(TABLE.spec(2).unwrap().name) };
        assert_eq!(name.to_bytes(), b"discard");
    }

    #[test]
    fn enum_names() {
        assert_eq!(
            MODES.name_of(1).map(|n| n.to_bytes()),
            Some(&b"remount-ro"[..])
        );
        assert_eq!(
            MODES.name_of(0).map(|n| n.to_bytes()),
            Some(&b"continue"[..])
        );
        assert!(MODES.name_of(2).is_none());
        assert!(MODES.table[2].name.is_null());
    }

    /// Parses `key` (a flag) or `key=value` as `vfs_parse_fs_string` would present it.
    fn parse_one(opts: &mut MountOptions, key: &CStr, value: Option<&CStr>) -> Result {
        let mut log = bindings::p_log {
            prefix: c"rust_fs_param".as_char_ptr(),
            log: core::ptr::null_mut(),
        };
        let mut p: bindings::fs_parameter = pin_init::zeroed();
        p.key = key.as_char_ptr();
        let mut copy = None;
        match value {
            None => p.set_type(bindings::fs_value_type_fs_value_is_flag),
            Some(v) => {
                p.set_type(bindings::fs_value_type_fs_value_is_string);
                let c = CString::try_from(v)?;
                p.__bindgen_anon_1.string = c.as_char_ptr().cast_mut();
                p.size = v.to_bytes().len();
                copy = Some(c);
            }
        }
        // SAFETY: `log` and `p` are valid for the call; the string outlives it.
        let r = unsafe { parse(&TABLE, opts, &mut log, &mut p) };
        drop(copy);
        r
    }

    #[test]
    fn c_parser_fills_typed_values() {
        let mut o = MountOptions::new();
        parse_one(&mut o, c"errors", Some(c"remount-ro")).unwrap();
        assert_eq!(o.enumeration(0), Some(1));
        parse_one(&mut o, c"errors", Some(c"continue")).unwrap();
        assert_eq!(o.enumeration(0), Some(0));
        parse_one(&mut o, c"debug", None).unwrap();
        assert_eq!(o.flag(1), Some(true));
        parse_one(&mut o, c"nodiscard", None).unwrap();
        assert_eq!(o.flag(2), Some(false));
        parse_one(&mut o, c"discard", None).unwrap();
        assert_eq!(o.flag(2), Some(true));
        parse_one(&mut o, c"commit", Some(c"30")).unwrap();
        assert_eq!(o.u32(3), Some(30));
        parse_one(&mut o, c"label", Some(c"data")).unwrap();
        assert_eq!(o.string(4).map(|s| s.to_bytes()), Some(&b"data"[..]));
        // Error mapping: bad values are EINVAL, unknown names ENOPARAM (which the VFS turns
        // into EINVAL and an "Unknown parameter" message).
        assert_eq!(parse_one(&mut o, c"errors", Some(c"panic")), Err(EINVAL));
        assert_eq!(parse_one(&mut o, c"commit", Some(c"x")), Err(EINVAL));
        assert_eq!(parse_one(&mut o, c"nodebug", None), Err(ENOPARAM));
        assert_eq!(parse_one(&mut o, c"bogus", None), Err(ENOPARAM));
        // Failures leave earlier values alone.
        assert_eq!(o.enumeration(0), Some(0));
        assert_eq!(o.flag(1), Some(true));
    }

    #[test]
    fn options_store() {
        let mut o = MountOptions::new();
        assert!(o.is_empty());
        o.set(0, Value::Enum(1)).unwrap();
        o.set(2, Value::Flag(false)).unwrap();
        o.set(0, Value::Enum(0)).unwrap();
        assert_eq!(o.enumeration(0), Some(0));
        assert_eq!(o.flag(2), Some(false));
        assert_eq!(o.flag(1), None);
        // A value of another kind is not reported as this kind.
        assert_eq!(o.flag(0), None);
        assert_eq!(o.set(MAX_PARAMS, Value::Flag(true)), Err(EINVAL));
        assert!(!o.is_empty());
    }
}
