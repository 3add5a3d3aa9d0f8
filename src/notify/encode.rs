//! Encoding metadata as the kernel's `struct stat` and `struct statx`, the
//! bytes written into the caller's buffer.

use crate::metadata::FileStat;

/// Size of `struct stat` on x86-64.
pub const STAT_SIZE: usize = 144;
/// Size of `struct statx`.
pub const STATX_SIZE: usize = 256;

/// `st` as the bytes of an x86-64 `struct stat` (stat(3type)).
pub fn encode_kernel_stat(st: &FileStat) -> [u8; STAT_SIZE] {
    let mut b = [0u8; STAT_SIZE];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &st.dev.to_ne_bytes());
    put(8, &st.ino.to_ne_bytes());
    put(16, &st.nlink.to_ne_bytes());
    put(24, &(st.mode as u32).to_ne_bytes());
    put(28, &(st.uid as u32).to_ne_bytes());
    put(32, &(st.gid as u32).to_ne_bytes());
    put(40, &st.rdev.to_ne_bytes());
    put(48, &st.size.to_ne_bytes());
    put(56, &st.blksize.to_ne_bytes());
    put(64, &st.blocks.to_ne_bytes());
    put(72, &st.atime.to_ne_bytes());
    put(80, &st.atime_nsec.to_ne_bytes());
    put(88, &st.mtime.to_ne_bytes());
    put(96, &st.mtime_nsec.to_ne_bytes());
    put(104, &st.ctime.to_ne_bytes());
    put(112, &st.ctime_nsec.to_ne_bytes());
    b
}

/// `st` as the bytes of a `struct statx` (statx(2)). [`FileStat`] carries
/// the basic fields only, so `stx_mask` is `STATX_BASIC_STATS`: no birth
/// time, mount id or attributes are reported.
pub fn encode_statx(st: &FileStat) -> [u8; STATX_SIZE] {
    let mut b = [0u8; STATX_SIZE];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &libc::STATX_BASIC_STATS.to_ne_bytes());
    put(4, &(st.blksize as u32).to_ne_bytes());
    put(16, &(st.nlink as u32).to_ne_bytes());
    put(20, &(st.uid as u32).to_ne_bytes());
    put(24, &(st.gid as u32).to_ne_bytes());
    put(28, &(st.mode as u16).to_ne_bytes());
    put(32, &st.ino.to_ne_bytes());
    put(40, &(st.size as u64).to_ne_bytes());
    put(48, &(st.blocks as u64).to_ne_bytes());
    for (at, sec, nsec) in [
        (64, st.atime, st.atime_nsec),
        (96, st.ctime, st.ctime_nsec),
        (112, st.mtime, st.mtime_nsec),
    ] {
        put(at, &sec.to_ne_bytes());
        put(at + 8, &(nsec as u32).to_ne_bytes());
    }
    put(128, &libc::major(st.rdev).to_ne_bytes());
    put(132, &libc::minor(st.rdev).to_ne_bytes());
    put(136, &libc::major(st.dev).to_ne_bytes());
    put(140, &libc::minor(st.dev).to_ne_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn stat_layout_matches_libc() {
        assert_eq!(size_of::<libc::stat>(), STAT_SIZE);
        let st = FileStat {
            dev: 1,
            ino: 2,
            mode: 0o100644,
            nlink: 3,
            uid: 4,
            gid: 5,
            rdev: 6,
            size: 7,
            blksize: 8,
            blocks: 9,
            atime: 10,
            atime_nsec: 11,
            mtime: 12,
            mtime_nsec: 13,
            ctime: 14,
            ctime_nsec: 15,
        };
        let b = encode_kernel_stat(&st);
        let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
        assert_eq!(u64_at(offset_of!(libc::stat, st_dev)), 1);
        assert_eq!(u64_at(offset_of!(libc::stat, st_ino)), 2);
        assert_eq!(u32_at(offset_of!(libc::stat, st_mode)), 0o100644);
        assert_eq!(u64_at(offset_of!(libc::stat, st_nlink)), 3);
        assert_eq!(u32_at(offset_of!(libc::stat, st_uid)), 4);
        assert_eq!(u32_at(offset_of!(libc::stat, st_gid)), 5);
        assert_eq!(u64_at(offset_of!(libc::stat, st_rdev)), 6);
        assert_eq!(u64_at(offset_of!(libc::stat, st_size)), 7);
        assert_eq!(u64_at(offset_of!(libc::stat, st_blksize)), 8);
        assert_eq!(u64_at(offset_of!(libc::stat, st_blocks)), 9);
        assert_eq!(u64_at(offset_of!(libc::stat, st_atime)), 10);
        assert_eq!(u64_at(offset_of!(libc::stat, st_atime_nsec)), 11);
        assert_eq!(u64_at(offset_of!(libc::stat, st_mtime)), 12);
        assert_eq!(u64_at(offset_of!(libc::stat, st_mtime_nsec)), 13);
        assert_eq!(u64_at(offset_of!(libc::stat, st_ctime)), 14);
        assert_eq!(u64_at(offset_of!(libc::stat, st_ctime_nsec)), 15);
    }

    #[test]
    fn statx_layout_matches_libc() {
        assert_eq!(size_of::<libc::statx>(), STATX_SIZE);
        let st = FileStat {
            dev: libc::makedev(8, 3),
            ino: 2,
            mode: 0o040755,
            nlink: 3,
            uid: 4,
            gid: 5,
            rdev: libc::makedev(259, 0x12345),
            size: 7,
            blksize: 4096,
            blocks: 9,
            atime: 10,
            atime_nsec: 11,
            mtime: 12,
            mtime_nsec: 13,
            ctime: 14,
            ctime_nsec: 15,
        };
        let b = encode_statx(&st);
        let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
        let u16_at = |o: usize| u16::from_ne_bytes(b[o..o + 2].try_into().unwrap());
        assert_eq!(
            u32_at(offset_of!(libc::statx, stx_mask)),
            libc::STATX_BASIC_STATS
        );
        assert_eq!(u32_at(offset_of!(libc::statx, stx_blksize)), 4096);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_nlink)), 3);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_uid)), 4);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_gid)), 5);
        assert_eq!(u16_at(offset_of!(libc::statx, stx_mode)), 0o040755);
        assert_eq!(u64_at(offset_of!(libc::statx, stx_ino)), 2);
        assert_eq!(u64_at(offset_of!(libc::statx, stx_size)), 7);
        assert_eq!(u64_at(offset_of!(libc::statx, stx_blocks)), 9);
        let ts = |field: usize| (u64_at(field), u32_at(field + 8));
        assert_eq!(ts(offset_of!(libc::statx, stx_atime)), (10, 11));
        assert_eq!(ts(offset_of!(libc::statx, stx_mtime)), (12, 13));
        assert_eq!(ts(offset_of!(libc::statx, stx_ctime)), (14, 15));
        assert_eq!(ts(offset_of!(libc::statx, stx_btime)), (0, 0));
        assert_eq!(u32_at(offset_of!(libc::statx, stx_rdev_major)), 259);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_rdev_minor)), 0x12345);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_dev_major)), 8);
        assert_eq!(u32_at(offset_of!(libc::statx, stx_dev_minor)), 3);
    }
}
