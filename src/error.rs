//! The one error type of the crate: a code the C ABI exposes and a message for people.

use std::fmt;

/// What kind of failure happened. The numbering is the C ABI's `cacheness_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    NotFound = 1,
    InvalidArgument = 2,
    Exists = 3,
    Conflict = 4,
    Corrupt = 5,
    Io = 6,
    Backend = 7,
    Busy = 8,
    TooLarge = 9,
    Panic = 10,
}

impl Code {
    pub fn name(self) -> &'static str {
        match self {
            Code::NotFound => "NOT_FOUND",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::Exists => "EXISTS",
            Code::Conflict => "CONFLICT",
            Code::Corrupt => "CORRUPT",
            Code::Io => "IO",
            Code::Backend => "BACKEND",
            Code::Busy => "BUSY",
            Code::TooLarge => "TOO_LARGE",
            Code::Panic => "PANIC",
        }
    }
}

/// An error with a code and a message that says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error { code, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(Code::InvalidArgument, message)
    }
    pub fn corrupt(message: impl Into<String>) -> Self {
        Error::new(Code::Corrupt, message)
    }
    pub fn io(message: impl Into<String>) -> Self {
        Error::new(Code::Io, message)
    }
    pub fn backend(message: impl Into<String>) -> Self {
        Error::new(Code::Backend, message)
    }
    /// Prefix the message with context ("put: ...").
    pub fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid(format!("invalid JSON: {e}"))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    Error::new(Code::Busy, format!("database busy: {e}"))
                }
                ErrorCode::DiskFull | ErrorCode::CannotOpen | ErrorCode::SystemIoFailure => {
                    Error::io(format!("sqlite: {e}"))
                }
                ErrorCode::ReadOnly => Error::io(format!("sqlite: read-only: {e}")),
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Error::corrupt(format!("sqlite: {e}")),
                _ => Error::backend(format!("sqlite: {e}")),
            },
            _ => Error::backend(format!("sqlite: {e}")),
        }
    }
}
