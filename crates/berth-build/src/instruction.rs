//! One parsed instruction: its keyword, flags and arguments as written (substitution is the
//! builder's, with the environment of the moment).

/// An instruction's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// The JSON array form: `["a", "b"]`.
    Exec(Vec<String>),
    /// Everything after the keyword and flags, continuations joined.
    Shell(String),
}

/// A here-document (`<<EOF`) following an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word (`EOF`).
    pub name: String,
    /// The lines up to the delimiter, newline-terminated.
    pub content: String,
    /// `<<-EOF`: leading tabs stripped.
    pub strip_tabs: bool,
    /// `<<"EOF"` / `<<'EOF'`: no variable expansion in the content.
    pub quoted: bool,
}

/// The instructions berth knows.
pub const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// The instructions whose arguments may be the JSON exec form.
const JSON_FORM: &[&str] = &[
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "SHELL",
    "COPY",
    "ADD",
    "VOLUME",
    "HEALTHCHECK",
];

/// Whether `keyword` (upper case) may take the exec form.
pub fn takes_json(keyword: &str) -> bool {
    JSON_FORM.contains(&keyword)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper case: `RUN`.
    pub keyword: String,
    /// `--name=value` flags (a bare `--name` has the value `true`), in order.
    pub flags: Vec<(String, String)>,
    pub args: Args,
    /// Here-documents named in the arguments, in order.
    pub heredocs: Vec<Heredoc>,
    /// The instruction as written, continuations joined (Docker's `Step n/m :` text).
    pub original: String,
    /// 1-based line of the keyword.
    pub line: usize,
}

impl Instruction {
    /// The value of flag `name`, the last one given.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The shell form's text or the exec form's words joined by spaces.
    pub fn text(&self) -> String {
        match &self.args {
            Args::Shell(s) => s.clone(),
            Args::Exec(v) => v.join(" "),
        }
    }
}
