//! The rights a policy grants and a request asks for.

use bitflags::bitflags;

bitflags! {
    /// A set of rights, as named in a policy's `access = [...]`.
    ///
    /// Any right implies [`Access::STAT`]: whoever may open a file may `fstat` it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Access: u8 {
        /// Open read-only, list a directory, stat/access/readlink it.
        const READ = 1 << 0;
        /// Open an existing file for writing (`O_WRONLY`/`O_RDWR`, `O_TRUNC`, `O_APPEND`).
        const WRITE = 1 << 1;
        /// Create a new file (`O_CREAT`), directory, symlink or hard link;
        /// be the destination of a rename.
        const CREATE = 1 << 2;
        /// Execute it (used by `fdbroker run`).
        const EXEC = 1 << 3;
        /// Metadata only: stat, access, readlink.
        const STAT = 1 << 4;
        /// Remove it: unlink a file, remove a directory, rename it away (or
        /// replace it by a rename). `write` and `create` do not imply it.
        const REMOVE = 1 << 5;
    }
}

impl Access {
    /// The policy-file name of each single right, in a fixed order.
    pub const NAMES: [(&'static str, Access); 6] = [
        ("read", Access::READ),
        ("write", Access::WRITE),
        ("create", Access::CREATE),
        ("remove", Access::REMOVE),
        ("exec", Access::EXEC),
        ("stat", Access::STAT),
    ];

    /// Parses one right by its policy-file name (`"read"`, `"write"`, ...).
    ///
    /// ```
    /// use fdbroker::policy::Access;
    /// assert_eq!(Access::from_right_name("write"), Some(Access::WRITE));
    /// assert_eq!(Access::from_right_name("delete"), None);
    /// ```
    pub fn from_right_name(name: &str) -> Option<Access> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
    }

    /// The rights a grant of `self` really gives: any right implies `stat`.
    ///
    /// ```
    /// use fdbroker::policy::Access;
    /// assert!(Access::WRITE.granted().contains(Access::STAT));
    /// assert_eq!(Access::empty().granted(), Access::empty());
    /// ```
    pub fn granted(self) -> Access {
        if self.is_empty() {
            self
        } else {
            self | Access::STAT
        }
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (name, a) in Self::NAMES {
            if self.contains(a) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}
