//! File metadata as the broker reports it to a child.

/// The metadata of a file, as `stat(2)` reports it.
///
/// This is the payload of a `stat` reply on the wire (see `docs/protocol.md`):
/// sixteen 64-bit fields in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStat {
    /// Device holding the file (`st_dev`).
    pub dev: u64,
    /// Inode number (`st_ino`).
    pub ino: u64,
    /// File type and permission bits (`st_mode`).
    pub mode: u64,
    /// Number of hard links (`st_nlink`).
    pub nlink: u64,
    /// Owner (`st_uid`).
    pub uid: u64,
    /// Group (`st_gid`).
    pub gid: u64,
    /// Device number, for device files (`st_rdev`).
    pub rdev: u64,
    /// Size in bytes (`st_size`).
    pub size: i64,
    /// Preferred I/O block size (`st_blksize`).
    pub blksize: i64,
    /// Number of 512-byte blocks allocated (`st_blocks`).
    pub blocks: i64,
    /// Last access, seconds since the epoch.
    pub atime: i64,
    /// Last access, nanoseconds.
    pub atime_nsec: i64,
    /// Last modification, seconds since the epoch.
    pub mtime: i64,
    /// Last modification, nanoseconds.
    pub mtime_nsec: i64,
    /// Last status change, seconds since the epoch.
    pub ctime: i64,
    /// Last status change, nanoseconds.
    pub ctime_nsec: i64,
}

impl From<&libc::stat> for FileStat {
    fn from(st: &libc::stat) -> Self {
        FileStat {
            dev: st.st_dev,
            ino: st.st_ino,
            mode: u64::from(st.st_mode),
            nlink: st.st_nlink,
            uid: u64::from(st.st_uid),
            gid: u64::from(st.st_gid),
            rdev: st.st_rdev,
            size: st.st_size,
            blksize: st.st_blksize,
            blocks: st.st_blocks,
            atime: st.st_atime,
            atime_nsec: st.st_atime_nsec,
            mtime: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec,
            ctime: st.st_ctime,
            ctime_nsec: st.st_ctime_nsec,
        }
    }
}
