// SPDX-License-Identifier: GPL-2.0

//! Error type of the tools library.

use rextfs_format::FormatError;
use std::fmt;
use std::io;

/// Errors of the tools library.
#[derive(Debug)]
pub enum Error {
    /// I/O error from the device.
    Io(io::Error),
    /// Corrupt or unsupported on-disk structure; the text says where.
    Format(String, FormatError),
    /// Anything else (no space, bad argument...).
    Msg(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Format(what, e) => write!(f, "{what}: {}", e.as_str()),
            Error::Msg(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Result type of the tools library.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for an [`Error::Msg`].
pub fn msg<T>(m: impl Into<String>) -> Result<T> {
    Err(Error::Msg(m.into()))
}

/// Adds context to a format error.
pub trait Context<T> {
    /// Wraps the error with a description of the structure involved.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, FormatError> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Format(what(), e))
    }
}
