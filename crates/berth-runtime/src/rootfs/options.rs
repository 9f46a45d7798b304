//! Parsing of fstab-style mount options (`"ro"`, `"nosuid"`, `"mode=755"`, ...) into what
//! mount(2) takes: flags for the mount itself, propagation changes that need calls of their own,
//! and the fs-specific data string.

use nix::mount::MsFlags;

use crate::{Error, Result};

/// The meaning of one mount's option list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags passed to the mount call (without MS_BIND / MS_REC, see `bind` and `recursive`).
    pub flags: MsFlags,
    /// "bind" or "rbind" was given.
    pub bind: bool,
    /// "rbind" was given: the bind takes submounts along.
    pub recursive: bool,
    /// Propagation changes, applied in order after the mount (mount(2) can't combine them).
    pub propagation: Vec<MsFlags>,
    /// Everything that is not a flag word, joined with ',' for the fs ("mode=755,size=65536k").
    pub data: String,
}

/// A word that sets (`true`) or clears (`false`) mount flags; later words win.
fn flag_word(word: &str) -> Option<(bool, MsFlags)> {
    let entry = match word {
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "atime" => (false, MsFlags::MS_NOATIME),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "defaults" => (true, MsFlags::empty()),
        _ => return None,
    };
    Some(entry)
}

/// Parses a propagation word ("rshared", "private", ...); shared by mount options and
/// `linux.rootfsPropagation`.
pub fn propagation_word(word: &str) -> Option<MsFlags> {
    let (recursive, kind) = match word.strip_prefix('r') {
        Some(rest @ ("shared" | "slave" | "private" | "unbindable")) => (true, rest),
        _ => (false, word),
    };
    let flag = match kind {
        "shared" => MsFlags::MS_SHARED,
        "slave" => MsFlags::MS_SLAVE,
        "private" => MsFlags::MS_PRIVATE,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        _ => return None,
    };
    Some(if recursive {
        flag | MsFlags::MS_REC
    } else {
        flag
    })
}

/// Parses one mount's options; `dest` only names the mount in errors.
pub fn parse(options: &[String], dest: &str) -> Result<MountOptions> {
    let mut parsed = MountOptions {
        flags: MsFlags::empty(),
        bind: false,
        recursive: false,
        propagation: Vec::new(),
        data: String::new(),
    };
    let mut data = Vec::new();
    for word in options {
        if let Some((set, flags)) = flag_word(word) {
            parsed.flags.set(flags, set);
        } else if let Some(flags) = propagation_word(word) {
            parsed.propagation.push(flags);
        } else if word == "bind" || word == "rbind" {
            parsed.bind = true;
            parsed.recursive |= word == "rbind";
        } else if word == "idmap" || word == "ridmap" {
            return Err(Error::InvalidSpec(format!(
                "mount {dest}: option \"{word}\" (id-mapped mounts) is not supported"
            )));
        } else if is_recursive_flag_word(word) {
            return Err(Error::InvalidSpec(format!(
                "mount {dest}: recursive option \"{word}\" (mount_setattr) is not supported"
            )));
        } else {
            data.push(word.as_str());
        }
    }
    parsed.data = data.join(",");
    Ok(parsed)
}

/// "rro", "rnosuid", ...: the recursive variants runc applies with mount_setattr(2).
fn is_recursive_flag_word(word: &str) -> bool {
    word.strip_prefix('r')
        .is_some_and(|rest| flag_word(rest).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn flags_data_and_propagation() {
        let o = parse(
            &words(&[
                "nosuid",
                "ro",
                "mode=755",
                "rw",
                "rslave",
                "size=65536k",
                "noexec",
            ]),
            "/x",
        )
        .unwrap();
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind);
    }

    #[test]
    fn bind_words() {
        let o = parse(&words(&["rbind", "ro"]), "/x").unwrap();
        assert!(o.bind && o.recursive);
        assert_eq!(o.flags, MsFlags::MS_RDONLY);
        let o = parse(&words(&["bind"]), "/x").unwrap();
        assert!(o.bind && !o.recursive);
    }

    #[test]
    fn rejected_words() {
        let err = parse(&words(&["idmap"]), "/data").unwrap_err().to_string();
        assert!(err.contains("/data") && err.contains("idmap"), "{err}");
        let err = parse(&words(&["rro"]), "/data").unwrap_err().to_string();
        assert!(err.contains("rro"), "{err}");
        // "remount" and "relatime" start with 'r' but are plain flag words.
        assert!(parse(&words(&["remount", "relatime"]), "/x").is_ok());
    }

    #[test]
    fn propagation_words() {
        assert_eq!(propagation_word("private"), Some(MsFlags::MS_PRIVATE));
        assert_eq!(
            propagation_word("runbindable"),
            Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC)
        );
        assert_eq!(propagation_word("rfoo"), None);
    }
}
