//! The json-file log driver: what container monitors write and `docker logs` reads.
//!
//! Each container's log is a file of JSON lines, Docker's format:
//! `{"log":"text including the trailing \n","stream":"stdout","time":"2026-11-23T10:00:00.123456789Z"}`.
//! Unlike Docker, berth rotates by default ([`LogOptions::default`]: 10 MiB, 5 files).

mod error;
mod format;
mod time;

pub use error::{Error, Result};
pub use format::{LogEntry, Stream, decode_entry, encode_entry, escape_json};
pub use time::{format_timestamp, parse_timestamp};
mod rotation;
mod stdcopy;
mod writer;

pub use rotation::{existing_files, rotated_path};
pub use stdcopy::{FrameDecoder, HEADER_LEN, encode_frame};
pub use writer::{DEFAULT_MAX_FILE, DEFAULT_MAX_SIZE, LogOptions, LogWriter, MAX_PARTIAL};
mod follow;
mod reader;

pub use follow::{POLL_INTERVAL, follow};
pub use reader::{LogReader, ReadOptions, read_logs};

#[cfg(test)]
mod tests;
