//! The json-file log driver: what container monitors write and `docker logs` / attach read.
//!
//! Each container's log is a file of JSON lines in Docker's format:
//! `{"log":"text including the trailing \n","stream":"stdout","time":"2026-11-23T10:00:00.123456789Z"}`
//! (berth always writes nine fractional digits; it reads Docker's trimmed fractions, offsets and
//! extra keys such as `attrs` too).
//!
//! - [`LogWriter`] appends a container's output: it splits chunks into lines, holds unfinished
//!   lines per stream (written as 16 KiB partial entries when longer, see [`MAX_PARTIAL`]),
//!   and rotates `path` → `path.1` → … → `path.{max_file-1}`. Unlike Docker, berth rotates by
//!   default ([`LogOptions::default`]: [`DEFAULT_MAX_SIZE`] × [`DEFAULT_MAX_FILE`]), since
//!   Docker's unbounded default lets logs fill disks.
//! - [`read_logs`] iterates the entries of all files, oldest first, filtered by
//!   [`ReadOptions`]; `tail` reads backwards from the end. Corrupt lines are skipped with a
//!   warning; an unterminated last line (a writer that died mid-line) is ignored.
//! - [`follow`] does the same and then waits (inotify, [`POLL_INTERVAL`] fallback) for new
//!   entries, across rotations.
//! - [`encode_frame`] / [`FrameDecoder`]: Docker's multiplexed stdout/stderr framing for
//!   non-TTY attach and logs; [`format_timestamp`] the `--timestamps` prefix.

mod error;
mod follow;
mod format;
mod reader;
mod rotation;
mod stdcopy;
mod time;
mod writer;

pub use error::{Error, Result};
pub use follow::{POLL_INTERVAL, follow};
pub use format::{LogEntry, Stream, decode_entry, encode_entry, escape_json};
pub use reader::{LogReader, ReadOptions, read_logs};
pub use rotation::{existing_files, rotated_path};
pub use stdcopy::{FrameDecoder, HEADER_LEN, encode_frame};
pub use time::{civil_from_days, days_from_civil, format_timestamp, parse_go_duration, parse_time};
pub use writer::{DEFAULT_MAX_FILE, DEFAULT_MAX_SIZE, LogOptions, LogWriter, MAX_PARTIAL};

#[cfg(test)]
mod tests;
