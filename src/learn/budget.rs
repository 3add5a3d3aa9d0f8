//! Byte budgets for the tables that a sandbox's requests make grow (the
//! denials already reported, learn mode's record): whatever a program asks
//! for, fdbroker's memory stays bounded.
//!
//! A table charges each new entry what it costs ([`entry_cost`]: its
//! bytes plus the bookkeeping around them, rounded up generously); once an
//! entry no longer fits, the table is full for good: it keeps what it has,
//! and the first refusal says so, so that the table's owner can print one
//! notice.

use std::path::Path;

/// What bookkeeping an entry costs beyond its own bytes: the allocation's
/// rounding and header, the table's slot and its share of the spare
/// capacity a hash table or B-tree keeps.
pub(crate) const ENTRY_OVERHEAD: usize = 96;

/// The cost charged for an entry holding `path` and `extra` more bytes.
pub(crate) fn entry_cost(path: &Path, extra: usize) -> usize {
    path.as_os_str().len() + extra + ENTRY_OVERHEAD
}

/// What [`Budget::charge`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charge {
    /// The entry fits: add it.
    Taken,
    /// The table is full: leave the entry out. `first` the first time.
    Full {
        /// The first refusal: time for the notice.
        first: bool,
    },
}

/// How much a table may still take.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: usize,
    full: bool,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub(crate) const fn new(limit: usize) -> Budget {
        Budget {
            limit,
            used: 0,
            full: false,
        }
    }

    /// Charges `bytes` for a new entry. Once one does not fit, every later
    /// one is refused too, however small: the table's content no longer
    /// depends on the order of what came after.
    pub(crate) fn charge(&mut self, bytes: usize) -> Charge {
        if !self.full {
            match self.used.checked_add(bytes) {
                Some(used) if used <= self.limit => {
                    self.used = used;
                    return Charge::Taken;
                }
                _ => {
                    self.full = true;
                    return Charge::Full { first: true };
                }
            }
        }
        Charge::Full { first: false }
    }

    /// Whether an entry was ever refused.
    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    /// The limit, for messages.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

/// `bytes` for a message: `1 MiB`, `512 KiB`, `100 bytes`.
pub(crate) fn human(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_once_and_for_good() {
        let mut b = Budget::new(100);
        assert_eq!(b.charge(60), Charge::Taken);
        assert_eq!(b.charge(40), Charge::Taken);
        assert!(!b.is_full());
        assert_eq!(b.charge(1), Charge::Full { first: true });
        assert_eq!(b.charge(0), Charge::Full { first: false });
        assert_eq!(b.charge(usize::MAX), Charge::Full { first: false });
        assert!(b.is_full());
        let mut b = Budget::new(10);
        assert_eq!(b.charge(usize::MAX), Charge::Full { first: true });
        assert_eq!(entry_cost(Path::new("/ab"), 5), 3 + 5 + ENTRY_OVERHEAD);
        assert_eq!(human(1 << 20), "1 MiB");
        assert_eq!(human(4 << 20), "4 MiB");
        assert_eq!(human(3 << 10), "3 KiB");
        assert_eq!(human(1000), "1000 bytes");
    }
}
