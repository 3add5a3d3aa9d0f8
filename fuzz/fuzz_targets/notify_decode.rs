//! The pure parts of `fdbroker run`'s seccomp-notification side: decoding a
//! trapped system call's raw number and arguments (`notify::decode`), and
//! encoding `struct stat`/`struct statx` for the caller.
//!
//! Properties: never panics; only the brokered numbers decode, and each one
//! decodes to its own name.
#![no_main]

use fdbroker::metadata::FileStat;
use fdbroker::notify::{BROKERED_SYSCALLS, decode, encode_kernel_stat, encode_statx};
use libfuzzer_sys::fuzz_target;

fn word(data: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, slot) in b.iter_mut().enumerate() {
        *slot = data.get(i * 8 + k).copied().unwrap_or(0);
    }
    u64::from_ne_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    // Numbers near the brokered ones are the interesting ones; let the
    // first byte pick one of them most of the time.
    let nr = match data.first() {
        Some(&b) if (b as usize) < BROKERED_SYSCALLS.len() * 2 => {
            BROKERED_SYSCALLS[b as usize % BROKERED_SYSCALLS.len()].1
        }
        _ => word(data, 0) as i64,
    };
    let args = [1, 2, 3, 4, 5, 6].map(|i| word(data, i));
    match decode(nr, args) {
        Some((name, _call)) => {
            assert!(
                BROKERED_SYSCALLS
                    .iter()
                    .any(|(n, x)| *n == name && *x == nr)
            );
        }
        None => assert!(BROKERED_SYSCALLS.iter().all(|(_, x)| *x != nr)),
    }
    let st = FileStat {
        dev: word(data, 7),
        ino: word(data, 8),
        mode: word(data, 9),
        nlink: word(data, 10),
        uid: word(data, 11),
        gid: word(data, 12),
        rdev: word(data, 13),
        size: word(data, 14) as i64,
        blksize: word(data, 15) as i64,
        blocks: word(data, 16) as i64,
        atime: word(data, 17) as i64,
        atime_nsec: word(data, 18) as i64,
        mtime: word(data, 19) as i64,
        mtime_nsec: word(data, 20) as i64,
        ctime: word(data, 21) as i64,
        ctime_nsec: word(data, 22) as i64,
    };
    let a = encode_kernel_stat(&st);
    let b = encode_statx(&st);
    assert_eq!(&a[8..16], &st.ino.to_ne_bytes());
    assert_eq!(&b[32..40], &st.ino.to_ne_bytes());
});
