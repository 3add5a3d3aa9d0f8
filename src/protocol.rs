//! The wire format between a child and the broker: pure encode/decode, no I/O.
//!
//! Every message is one `SOCK_SEQPACKET` record in native byte order (both
//! ends run on the same host). A child sends a [`Request`]; the broker answers
//! each with exactly one [`Reply`], in order, carrying at most one descriptor
//! by `SCM_RIGHTS` (only a successful `open` carries one). The full
//! specification, with a byte-level example and a Python client, is
//! `docs/protocol.md`.
//!
//! Nothing here panics, whatever the input: decoders return a typed error, and
//! a refused request still yields the [`Reply`] the broker sends back
//! ([`Rejected::reply`]).
//!
//! ```
//! use fdbroker::protocol::{Call, Reply, ReplyBody, Request, Op};
//!
//! let req = Request::new(7, Call::Open { flags: libc::O_RDONLY, mode: 0 }, "/srv/in/a.txt");
//! let bytes = req.encode().unwrap();
//! assert_eq!(bytes.len(), 24 + "/srv/in/a.txt".len());
//! assert_eq!(Request::decode(&bytes).unwrap(), req);
//!
//! let reply = Reply::error(7, Some(Op::Open), libc::EACCES);
//! let bytes = reply.encode().unwrap();
//! assert_eq!(bytes.len(), 16);
//! let back = Reply::decode(&bytes).unwrap();
//! assert_eq!(back.body, ReplyBody::Error(libc::EACCES));
//! assert_eq!(back.nfds(), 0);
//! ```

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::metadata::FileStat;
use crate::procfs::PATH_MAX;
use crate::resolve::FollowSymlinks;

/// The protocol version this crate speaks, the first field of every message.
pub const VERSION: u16 = 1;
/// Size of the fixed request header in bytes.
pub const REQUEST_HEADER_LEN: usize = 24;
/// Size of the fixed reply header in bytes.
pub const REPLY_HEADER_LEN: usize = 16;
/// Longest path a request may carry, in bytes (`PATH_MAX` minus the NUL).
pub const MAX_PATH_LEN: usize = PATH_MAX - 1;
/// Longest reply payload, in bytes.
pub const MAX_REPLY_DATA: usize = 4096;
/// Largest valid request record.
pub const MAX_REQUEST: usize = REQUEST_HEADER_LEN + MAX_PATH_LEN;
/// Largest valid reply record.
pub const MAX_REPLY: usize = REPLY_HEADER_LEN + MAX_REPLY_DATA;
/// Size of a `stat` reply payload: sixteen 64-bit fields of [`FileStat`].
pub const STAT_DATA_LEN: usize = 16 * 8;

/// `AT_SYMLINK_NOFOLLOW`, the only flag a `stat` request may carry.
const STAT_NOFOLLOW: i32 = libc::AT_SYMLINK_NOFOLLOW;
/// The bits an `access` request may ask for (`F_OK` is zero).
const ACCESS_BITS: i32 = libc::R_OK | libc::W_OK | libc::X_OK;
/// Permission bits an `open` mode may carry (`S_IALLUGO`).
const MODE_BITS: u32 = 0o7777;

/// The operations, numbered on the wire as their discriminants.
pub use crate::ops::Op;

impl Op {
    /// The operation numbered `n` on the wire, if any.
    ///
    /// ```
    /// use fdbroker::protocol::Op;
    /// assert_eq!(Op::from_wire(4), Some(Op::Readlink));
    /// assert_eq!(Op::from_wire(0), None);
    /// ```
    pub fn from_wire(n: u16) -> Option<Op> {
        match n {
            1 => Some(Op::Open),
            2 => Some(Op::Stat),
            3 => Some(Op::Access),
            4 => Some(Op::Readlink),
            _ => None,
        }
    }

    /// The operation's number on the wire.
    pub fn to_wire(self) -> u16 {
        self as u16
    }
}

/// What a request asks for, with the arguments of its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Open with `open(2)` `flags` and, when creating, permission bits `mode`
    /// (at most `0o7777`). The broker decides which flags it accepts.
    Open {
        /// `open(2)` flags.
        flags: i32,
        /// Permission bits for a created file.
        mode: u32,
    },
    /// Stat; [`FollowSymlinks::No`] is `lstat(2)` (`AT_SYMLINK_NOFOLLOW` on
    /// the wire).
    Stat {
        /// Whether a final symlink is followed.
        follow: FollowSymlinks,
    },
    /// Check `amode`: `F_OK` (0) or any of `R_OK | W_OK | X_OK`.
    Access {
        /// The `access(2)` mode.
        amode: i32,
    },
    /// Read a symlink's target.
    Readlink,
}

impl Call {
    /// The operation of this call.
    pub fn op(&self) -> Op {
        match self {
            Call::Open { .. } => Op::Open,
            Call::Stat { .. } => Op::Stat,
            Call::Access { .. } => Op::Access,
            Call::Readlink => Op::Readlink,
        }
    }

    /// The `flags` and `mode` header fields of this call.
    fn wire_args(&self) -> (i32, u32) {
        match *self {
            Call::Open { flags, mode } => (flags, mode),
            Call::Stat { follow } => (follow.at_flags(), 0),
            // Validated non-negative before it is sent; a negative value
            // becomes a large u32 that decode rejects.
            Call::Access { amode } => (0, amode as u32),
            Call::Readlink => (0, 0),
        }
    }
}

/// One request from a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Chosen by the child; echoed in the reply.
    pub id: u32,
    /// The operation and its arguments.
    pub call: Call,
    /// The absolute path, 1 to [`MAX_PATH_LEN`] bytes, no NUL.
    pub path: PathBuf,
}

/// Why a message is not a valid request or reply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Fewer bytes than the fixed header.
    #[error("message of {len} bytes is shorter than the {need}-byte header")]
    Short {
        /// Bytes received.
        len: usize,
        /// Header size.
        need: usize,
    },
    /// More bytes than the largest valid message (or the record was truncated).
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// Bytes received (at least).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A version other than [`VERSION`].
    #[error("unsupported protocol version {0}")]
    BadVersion(u16),
    /// An operation number this version does not define.
    #[error("unknown operation {0}")]
    UnknownOp(u16),
    /// The header's length field disagrees with the record's size.
    #[error("header announces {declared} payload bytes but {actual} follow")]
    LengthMismatch {
        /// The header's length field.
        declared: u32,
        /// Bytes actually following the header.
        actual: usize,
    },
    /// A reserved field is not zero.
    #[error("reserved field is not zero")]
    Reserved,
    /// The path is empty.
    #[error("empty path")]
    EmptyPath,
    /// The path is longer than [`MAX_PATH_LEN`].
    #[error("path of {0} bytes is too long")]
    PathTooLong(usize),
    /// The path does not start with `/`.
    #[error("path is not absolute")]
    RelativePath,
    /// The path contains a NUL byte.
    #[error("path contains a NUL byte")]
    NulInPath,
    /// A flags or mode field is not valid for the operation.
    #[error("invalid {field} {value:#x} for {op}")]
    BadArgument {
        /// The operation.
        op: Op,
        /// `"flags"` or `"mode"`.
        field: &'static str,
        /// The offending value.
        value: u32,
    },
    /// The record carried descriptors it should not have.
    #[error("unexpected descriptors attached")]
    UnexpectedFds,
    /// The ancillary data was truncated (`MSG_CTRUNC`).
    #[error("ancillary data truncated")]
    ControlTruncated,
    /// A reply whose fields contradict each other or the request.
    #[error("malformed reply: {0}")]
    BadReply(&'static str),
}

impl ProtocolError {
    /// The errno a broker answers this error with: `EINVAL` for a well-framed
    /// request with invalid arguments (unknown op, empty or relative path, NUL
    /// in the path, bad flags or mode), `ENAMETOOLONG` for a path over
    /// [`MAX_PATH_LEN`] (only an encoder sees one: such a record is
    /// [`ProtocolError::TooLong`]), `EPROTO` for a message that does not
    /// follow the framing.
    ///
    /// ```
    /// use fdbroker::protocol::ProtocolError;
    /// assert_eq!(ProtocolError::RelativePath.errno(), libc::EINVAL);
    /// assert_eq!(ProtocolError::BadVersion(2).errno(), libc::EPROTO);
    /// ```
    pub fn errno(&self) -> i32 {
        match self {
            ProtocolError::PathTooLong(_) => libc::ENAMETOOLONG,
            ProtocolError::UnknownOp(_)
            | ProtocolError::EmptyPath
            | ProtocolError::RelativePath
            | ProtocolError::NulInPath
            | ProtocolError::BadArgument { .. } => libc::EINVAL,
            _ => libc::EPROTO,
        }
    }
}

/// A request the broker refuses to run, with what is needed to answer it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("request {id} rejected: {error}")]
pub struct Rejected {
    /// The request id, or 0 when no version-1 header could be read.
    pub id: u32,
    /// The operation, when the header named a known one.
    pub op: Option<Op>,
    /// What is wrong.
    pub error: ProtocolError,
}

impl Rejected {
    /// Attributes `error` to the message `bytes`: its id and op are taken from
    /// the header when a complete version-1 header is present, else 0/none.
    ///
    /// ```
    /// use fdbroker::protocol::{ProtocolError, Rejected};
    /// let r = Rejected::for_message(b"junk", ProtocolError::UnexpectedFds);
    /// assert_eq!((r.id, r.op), (0, None));
    /// assert_eq!(r.reply().encode().unwrap().len(), 16);
    /// ```
    pub fn for_message(bytes: &[u8], error: ProtocolError) -> Rejected {
        let (id, op) = match RawRequestHeader::parse(bytes) {
            Some(h) if h.version == VERSION => (h.id, Op::from_wire(h.op)),
            _ => (0, None),
        };
        Rejected { id, op, error }
    }

    /// The errno of the error reply ([`ProtocolError::errno`]).
    pub fn errno(&self) -> i32 {
        self.error.errno()
    }

    /// The error reply the broker sends for this request.
    pub fn reply(&self) -> Reply {
        Reply::error(self.id, self.op, self.errno())
    }
}

/// The request header's fields, as read without validation.
#[derive(Debug, Clone, Copy)]
struct RawRequestHeader {
    version: u16,
    op: u16,
    id: u32,
    flags: i32,
    mode: u32,
    path_len: u32,
    reserved: u32,
}

impl RawRequestHeader {
    fn parse(bytes: &[u8]) -> Option<RawRequestHeader> {
        Some(RawRequestHeader {
            version: u16::from_ne_bytes(field(bytes, 0)?),
            op: u16::from_ne_bytes(field(bytes, 2)?),
            id: u32::from_ne_bytes(field(bytes, 4)?),
            flags: i32::from_ne_bytes(field(bytes, 8)?),
            mode: u32::from_ne_bytes(field(bytes, 12)?),
            path_len: u32::from_ne_bytes(field(bytes, 16)?),
            reserved: u32::from_ne_bytes(field(bytes, 20)?),
        })
    }
}

/// `N` bytes at `at`, or `None` when `bytes` is too short.
fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Checks a path for the wire: absolute, 1..=[`MAX_PATH_LEN`] bytes, no NUL.
fn check_wire_path(path: &[u8]) -> Result<(), ProtocolError> {
    if path.is_empty() {
        return Err(ProtocolError::EmptyPath);
    }
    if path.len() > MAX_PATH_LEN {
        return Err(ProtocolError::PathTooLong(path.len()));
    }
    if path.contains(&0) {
        return Err(ProtocolError::NulInPath);
    }
    if path[0] != b'/' {
        return Err(ProtocolError::RelativePath);
    }
    Ok(())
}

/// Checks the `flags`/`mode` fields of `op` and builds its [`Call`].
fn make_call(op: Op, flags: i32, mode: u32) -> Result<Call, ProtocolError> {
    let bad = |field, value| ProtocolError::BadArgument { op, field, value };
    // Fields an operation does not use must be zero, so that a later version
    // can give them a meaning without old brokers silently ignoring it.
    match op {
        Op::Open => {
            if mode & !MODE_BITS != 0 {
                return Err(bad("mode", mode));
            }
            Ok(Call::Open { flags, mode })
        }
        Op::Stat => {
            if mode != 0 {
                return Err(bad("mode", mode));
            }
            match flags {
                0 => Ok(Call::Stat {
                    follow: FollowSymlinks::Yes,
                }),
                STAT_NOFOLLOW => Ok(Call::Stat {
                    follow: FollowSymlinks::No,
                }),
                _ => Err(bad("flags", flags as u32)),
            }
        }
        Op::Access => {
            if flags != 0 {
                return Err(bad("flags", flags as u32));
            }
            match i32::try_from(mode) {
                Ok(amode) if amode & !ACCESS_BITS == 0 => Ok(Call::Access { amode }),
                _ => Err(bad("mode", mode)),
            }
        }
        Op::Readlink => {
            if flags != 0 {
                return Err(bad("flags", flags as u32));
            }
            if mode != 0 {
                return Err(bad("mode", mode));
            }
            Ok(Call::Readlink)
        }
        // Brokered for `fdbroker run` only: no wire number.
        Op::Mkdir
        | Op::Unlink
        | Op::Rmdir
        | Op::Rename
        | Op::Link
        | Op::Symlink
        | Op::Chmod
        | Op::Utimes => Err(ProtocolError::UnknownOp(op as u16)),
    }
}

impl Request {
    /// A request; nothing is checked until [`Request::encode`].
    pub fn new(id: u32, call: Call, path: impl Into<PathBuf>) -> Request {
        Request {
            id,
            call,
            path: path.into(),
        }
    }

    /// The record for this request: the 24-byte header, then the path.
    ///
    /// Fails, as the broker would, on a relative, empty, over-long or
    /// NUL-containing path, or on arguments the operation does not accept.
    ///
    /// ```
    /// use fdbroker::protocol::{Call, ProtocolError, Request};
    /// let r = Request::new(1, Call::Readlink, "etc/passwd");
    /// assert_eq!(r.encode(), Err(ProtocolError::RelativePath));
    /// ```
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        let path = self.path.as_os_str().as_bytes();
        check_wire_path(path)?;
        let op = self.call.op();
        let (flags, mode) = self.call.wire_args();
        // Refuse here exactly what the broker would refuse.
        make_call(op, flags, mode)?;
        let path_len =
            u32::try_from(path.len()).map_err(|_| ProtocolError::PathTooLong(path.len()))?;
        let mut out = Vec::with_capacity(REQUEST_HEADER_LEN + path.len());
        out.extend_from_slice(&VERSION.to_ne_bytes());
        out.extend_from_slice(&op.to_wire().to_ne_bytes());
        out.extend_from_slice(&self.id.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&mode.to_ne_bytes());
        out.extend_from_slice(&path_len.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(path);
        Ok(out)
    }

    /// Decodes one request record, checking every field.
    ///
    /// The error carries the id to answer with (see [`Rejected::for_message`]).
    ///
    /// ```
    /// use fdbroker::protocol::{ProtocolError, Request};
    /// let err = Request::decode(&[1, 0, 9]).unwrap_err();
    /// assert_eq!(err.error, ProtocolError::Short { len: 3, need: 24 });
    /// assert_eq!(err.id, 0);
    /// ```
    pub fn decode(bytes: &[u8]) -> Result<Request, Rejected> {
        let reject = |error| Rejected::for_message(bytes, error);
        let Some(h) = RawRequestHeader::parse(bytes) else {
            return Err(reject(ProtocolError::Short {
                len: bytes.len(),
                need: REQUEST_HEADER_LEN,
            }));
        };
        if h.version != VERSION {
            return Err(reject(ProtocolError::BadVersion(h.version)));
        }
        if bytes.len() > MAX_REQUEST {
            return Err(reject(ProtocolError::TooLong {
                len: bytes.len(),
                max: MAX_REQUEST,
            }));
        }
        if h.reserved != 0 {
            return Err(reject(ProtocolError::Reserved));
        }
        let path = &bytes[REQUEST_HEADER_LEN..];
        if usize::try_from(h.path_len).ok() != Some(path.len()) {
            return Err(reject(ProtocolError::LengthMismatch {
                declared: h.path_len,
                actual: path.len(),
            }));
        }
        let Some(op) = Op::from_wire(h.op) else {
            return Err(reject(ProtocolError::UnknownOp(h.op)));
        };
        check_wire_path(path).map_err(reject)?;
        let call = make_call(op, h.flags, h.mode).map_err(reject)?;
        Ok(Request {
            id: h.id,
            call,
            path: PathBuf::from(OsStr::from_bytes(path)),
        })
    }

    /// The path as bytes.
    pub fn path_bytes(&self) -> &[u8] {
        self.path.as_os_str().as_bytes()
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What a reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// Refused or failed with this errno (positive).
    Error(i32),
    /// `open` succeeded; the record carries exactly one descriptor.
    Opened,
    /// `stat` succeeded.
    Stat(FileStat),
    /// `access` succeeded.
    Access,
    /// `readlink` succeeded: the target, 1 to [`MAX_REPLY_DATA`] bytes.
    Readlink(Vec<u8>),
}

/// One reply from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The id of the request answered (0 when it could not be read).
    pub id: u32,
    /// The operation answered, when the request named a known one.
    pub op: Option<Op>,
    /// The status and payload.
    pub body: ReplyBody,
}

impl Reply {
    /// An error reply.
    pub fn error(id: u32, op: Option<Op>, errno: i32) -> Reply {
        Reply {
            id,
            op,
            body: ReplyBody::Error(errno),
        }
    }

    /// The number of descriptors this reply travels with: 1 for
    /// [`ReplyBody::Opened`], else 0.
    pub fn nfds(&self) -> u8 {
        u8::from(self.body == ReplyBody::Opened)
    }

    /// The errno of an error reply, 0 for a success.
    pub fn errno(&self) -> i32 {
        match self.body {
            ReplyBody::Error(e) => e,
            _ => 0,
        }
    }

    /// Checks that the body fits the op and the bounds of the format.
    fn check(&self) -> Result<(), ProtocolError> {
        match (&self.body, self.op) {
            (ReplyBody::Error(e), _) if *e <= 0 => {
                Err(ProtocolError::BadReply("error is not a positive errno"))
            }
            (ReplyBody::Error(_), _) => Ok(()),
            (ReplyBody::Opened, Some(Op::Open))
            | (ReplyBody::Stat(_), Some(Op::Stat))
            | (ReplyBody::Access, Some(Op::Access)) => Ok(()),
            (ReplyBody::Readlink(t), Some(Op::Readlink)) => {
                if t.is_empty() || t.len() > MAX_REPLY_DATA {
                    Err(ProtocolError::BadReply(
                        "readlink target length out of range",
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Err(ProtocolError::BadReply(
                "payload does not match the operation",
            )),
        }
    }

    /// The record for this reply: the 16-byte header, then the payload. The
    /// sender attaches [`Reply::nfds`] descriptors.
    ///
    /// ```
    /// use fdbroker::protocol::{Op, Reply, ReplyBody};
    /// let r = Reply { id: 3, op: Some(Op::Readlink), body: ReplyBody::Readlink(b"/tmp/x".to_vec()) };
    /// let bytes = r.encode().unwrap();
    /// assert_eq!(bytes.len(), 16 + 6);
    /// assert_eq!(Reply::decode(&bytes).unwrap(), r);
    /// // An open reply claims one descriptor in its header.
    /// let bytes = Reply { id: 4, op: Some(Op::Open), body: ReplyBody::Opened }.encode().unwrap();
    /// assert_eq!(bytes[3], 1);
    /// ```
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        self.check()?;
        let mut stat_buf = [0u8; STAT_DATA_LEN];
        let data: &[u8] = match &self.body {
            ReplyBody::Stat(st) => {
                encode_wire_stat(st, &mut stat_buf);
                &stat_buf
            }
            ReplyBody::Readlink(t) => t,
            _ => &[],
        };
        let op = self.op.map_or(0, |o| o.to_wire() as u8);
        // check() bounds data to MAX_REPLY_DATA, so this cannot fail.
        let data_len =
            u32::try_from(data.len()).map_err(|_| ProtocolError::BadReply("payload too long"))?;
        let mut out = Vec::with_capacity(REPLY_HEADER_LEN + data.len());
        out.extend_from_slice(&VERSION.to_ne_bytes());
        out.push(op);
        out.push(self.nfds());
        out.extend_from_slice(&self.id.to_ne_bytes());
        out.extend_from_slice(&self.errno().to_ne_bytes());
        out.extend_from_slice(&data_len.to_ne_bytes());
        out.extend_from_slice(data);
        Ok(out)
    }

    /// Decodes one reply record, checking that its fields agree: the length,
    /// the descriptor count (1 exactly for a successful open), the payload
    /// size for the operation. Whether the descriptors actually received match
    /// [`Reply::nfds`] is for the receiver to check.
    pub fn decode(bytes: &[u8]) -> Result<Reply, ProtocolError> {
        let short = || ProtocolError::Short {
            len: bytes.len(),
            need: REPLY_HEADER_LEN,
        };
        let version = u16::from_ne_bytes(field(bytes, 0).ok_or_else(short)?);
        let [op_raw, nfds] = field::<2>(bytes, 2).ok_or_else(short)?;
        let id = u32::from_ne_bytes(field(bytes, 4).ok_or_else(short)?);
        let error = i32::from_ne_bytes(field(bytes, 8).ok_or_else(short)?);
        let data_len = u32::from_ne_bytes(field(bytes, 12).ok_or_else(short)?);
        if version != VERSION {
            return Err(ProtocolError::BadVersion(version));
        }
        if bytes.len() > MAX_REPLY {
            return Err(ProtocolError::TooLong {
                len: bytes.len(),
                max: MAX_REPLY,
            });
        }
        let data = &bytes[REPLY_HEADER_LEN..];
        if usize::try_from(data_len).ok() != Some(data.len()) {
            return Err(ProtocolError::LengthMismatch {
                declared: data_len,
                actual: data.len(),
            });
        }
        let op = match op_raw {
            0 => None,
            n => Some(Op::from_wire(u16::from(n)).ok_or(ProtocolError::UnknownOp(u16::from(n)))?),
        };
        let body = if error != 0 {
            if error < 0 {
                return Err(ProtocolError::BadReply("negative error"));
            }
            if !data.is_empty() {
                return Err(ProtocolError::BadReply("error reply with a payload"));
            }
            ReplyBody::Error(error)
        } else {
            match op {
                None => {
                    return Err(ProtocolError::BadReply(
                        "success reply without an operation",
                    ));
                }
                Some(Op::Open) if data.is_empty() => ReplyBody::Opened,
                Some(Op::Stat) => ReplyBody::Stat(
                    decode_stat(data).ok_or(ProtocolError::BadReply("stat payload size"))?,
                ),
                Some(Op::Access) if data.is_empty() => ReplyBody::Access,
                Some(Op::Readlink) => ReplyBody::Readlink(data.to_vec()),
                Some(_) => return Err(ProtocolError::BadReply("unexpected payload")),
            }
        };
        let reply = Reply { id, op, body };
        reply.check()?;
        if nfds != reply.nfds() {
            return Err(ProtocolError::BadReply(
                "descriptor count does not match the reply",
            ));
        }
        Ok(reply)
    }
}

/// Writes the sixteen 64-bit fields of `st`, in declaration order.
fn encode_wire_stat(st: &FileStat, out: &mut [u8; STAT_DATA_LEN]) {
    let fields: [[u8; 8]; 16] = [
        st.dev.to_ne_bytes(),
        st.ino.to_ne_bytes(),
        st.mode.to_ne_bytes(),
        st.nlink.to_ne_bytes(),
        st.uid.to_ne_bytes(),
        st.gid.to_ne_bytes(),
        st.rdev.to_ne_bytes(),
        st.size.to_ne_bytes(),
        st.blksize.to_ne_bytes(),
        st.blocks.to_ne_bytes(),
        st.atime.to_ne_bytes(),
        st.atime_nsec.to_ne_bytes(),
        st.mtime.to_ne_bytes(),
        st.mtime_nsec.to_ne_bytes(),
        st.ctime.to_ne_bytes(),
        st.ctime_nsec.to_ne_bytes(),
    ];
    for (chunk, f) in out.chunks_exact_mut(8).zip(fields) {
        chunk.copy_from_slice(&f);
    }
}

/// Reads a `stat` payload; `None` unless it is exactly [`STAT_DATA_LEN`] bytes.
fn decode_stat(data: &[u8]) -> Option<FileStat> {
    if data.len() != STAT_DATA_LEN {
        return None;
    }
    let u = |i: usize| field::<8>(data, i * 8).map(u64::from_ne_bytes);
    let s = |i: usize| field::<8>(data, i * 8).map(i64::from_ne_bytes);
    Some(FileStat {
        dev: u(0)?,
        ino: u(1)?,
        mode: u(2)?,
        nlink: u(3)?,
        uid: u(4)?,
        gid: u(5)?,
        rdev: u(6)?,
        size: s(7)?,
        blksize: s(8)?,
        blocks: s(9)?,
        atime: s(10)?,
        atime_nsec: s(11)?,
        mtime: s(12)?,
        mtime_nsec: s(13)?,
        ctime: s(14)?,
        ctime_nsec: s(15)?,
    })
}
