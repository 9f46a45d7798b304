//! The Dockerfile front end, a pure library: [`parse`] turns a Dockerfile into instructions
//! (parser directives, continuations, comments, heredocs, exec and shell forms), [`expand`]
//! does Docker's variable substitution, [`ignore`] applies `.dockerignore` rules. The engine's
//! builder executes what this produces; nothing here touches files or containers.

pub mod error;
pub mod expand;
pub mod ignore;
pub mod instruction;
pub mod parse;

pub use error::{ParseError, Result};
pub use expand::{expand_word, expand_words};
pub use ignore::{IgnoreRules, glob_match, is_glob};
pub use instruction::{Args, Heredoc, Instruction};
pub use parse::{Dockerfile, parse};
