//! Errors that name the file, line and column they are about.

/// A Dockerfile (or `.dockerignore`) that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {message} ({file}:{line}:{column})")]
pub struct ParseError {
    /// The file's name as the user gave it (e.g. `Dockerfile`).
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, ParseError>;
