//! The wire format: round trips, every malformed variant, and no panics.

mod common;

use fdbroker::FollowSymlinks;
use fdbroker::metadata::FileStat;
use fdbroker::protocol::{
    Call, MAX_PATH_LEN, MAX_REPLY, MAX_REPLY_DATA, MAX_REQUEST, Op, ProtocolError, Rejected, Reply,
    ReplyBody, Request,
};
use proptest::prelude::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use common::raw_request;

fn good(op: u16, flags: i32, mode: u32, path: &[u8]) -> Vec<u8> {
    raw_request(1, op, 42, flags, mode, path.len() as u32, 0, path)
}

fn raw_reply(
    version: u16,
    op: u8,
    nfds: u8,
    id: u32,
    error: i32,
    data_len: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&version.to_ne_bytes());
    v.push(op);
    v.push(nfds);
    v.extend_from_slice(&id.to_ne_bytes());
    v.extend_from_slice(&error.to_ne_bytes());
    v.extend_from_slice(&data_len.to_ne_bytes());
    v.extend_from_slice(data);
    v
}

fn rejected(bytes: &[u8]) -> Rejected {
    match Request::decode(bytes) {
        Ok(r) => panic!("accepted a malformed request: {r:?}"),
        Err(e) => e,
    }
}

#[test]
fn worked_example_bytes_match_the_doc() {
    if cfg!(target_endian = "big") {
        return; // docs/protocol.md shows little-endian bytes
    }
    let req = Request::new(
        1,
        Call::Open {
            flags: libc::O_RDONLY | libc::O_CLOEXEC,
            mode: 0,
        },
        "/etc/hostname",
    );
    let mut want = vec![
        1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0,
    ];
    want.extend_from_slice(b"/etc/hostname");
    assert_eq!(req.encode().unwrap(), want);
    let ok = Reply {
        id: 1,
        op: Some(Op::Open),
        body: ReplyBody::Opened,
    };
    assert_eq!(
        ok.encode().unwrap(),
        [1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    let denied = Reply::error(1, Some(Op::Open), libc::EACCES);
    assert_eq!(
        denied.encode().unwrap(),
        [1, 0, 1, 0, 1, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0]
    );
}

#[test]
fn every_op_round_trips() {
    let calls = [
        Call::Open {
            flags: libc::O_WRONLY | libc::O_CREAT,
            mode: 0o644,
        },
        Call::Stat {
            follow: FollowSymlinks::Yes,
        },
        Call::Stat {
            follow: FollowSymlinks::No,
        },
        Call::Access { amode: libc::F_OK },
        Call::Access {
            amode: libc::R_OK | libc::W_OK | libc::X_OK,
        },
        Call::Readlink,
    ];
    for (i, call) in calls.into_iter().enumerate() {
        let r = Request::new(i as u32, call, "/a/b");
        assert_eq!(Request::decode(&r.encode().unwrap()).unwrap(), r);
    }
}

#[test]
fn stat_flag_on_the_wire_is_at_symlink_nofollow() {
    let flags = |follow| {
        let b = Request::new(1, Call::Stat { follow }, "/x")
            .encode()
            .unwrap();
        i32::from_ne_bytes(b[8..12].try_into().unwrap())
    };
    assert_eq!(flags(FollowSymlinks::No), libc::AT_SYMLINK_NOFOLLOW);
    assert_eq!(flags(FollowSymlinks::Yes), 0);
}

#[test]
fn short_requests_are_eproto_with_id_zero() {
    let full = good(1, 0, 0, b"/x");
    for len in 0..24 {
        let e = rejected(&full[..len]);
        assert_eq!(e.error, ProtocolError::Short { len, need: 24 });
        assert_eq!((e.id, e.op, e.errno()), (0, None, libc::EPROTO));
    }
}

#[test]
fn bad_version_is_eproto_with_id_zero() {
    for v in [0u16, 2, 0x0100, u16::MAX] {
        let e = rejected(&raw_request(v, 1, 42, 0, 0, 2, 0, b"/x"));
        assert_eq!(e.error, ProtocolError::BadVersion(v));
        assert_eq!((e.id, e.op, e.errno()), (0, None, libc::EPROTO));
    }
}

#[test]
fn unknown_op_is_einval_with_the_id() {
    for op in [0u16, 5, 0x100, u16::MAX] {
        let e = rejected(&good(op, 0, 0, b"/x"));
        assert_eq!(e.error, ProtocolError::UnknownOp(op));
        assert_eq!((e.id, e.op, e.errno()), (42, None, libc::EINVAL));
        let reply = Reply::decode(&e.reply().encode().unwrap()).unwrap();
        assert_eq!(
            (reply.id, reply.op, reply.errno()),
            (42, None, libc::EINVAL)
        );
    }
}

#[test]
fn path_len_that_lies_is_eproto_with_the_id() {
    for declared in [0u32, 1, 3, 4095, u32::MAX] {
        let e = rejected(&raw_request(1, 1, 42, 0, 0, declared, 0, b"/x"));
        assert_eq!(
            e.error,
            ProtocolError::LengthMismatch {
                declared,
                actual: 2
            }
        );
        assert_eq!((e.id, e.op, e.errno()), (42, Some(Op::Open), libc::EPROTO));
    }
}

#[test]
fn reserved_must_be_zero() {
    let e = rejected(&raw_request(1, 2, 42, 0, 0, 2, 1, b"/x"));
    assert_eq!(e.error, ProtocolError::Reserved);
    assert_eq!((e.id, e.op, e.errno()), (42, Some(Op::Stat), libc::EPROTO));
}

#[test]
fn oversized_request_is_eproto() {
    let path = [b'a'; MAX_PATH_LEN + 1];
    let e = rejected(&good(1, 0, 0, &path));
    assert_eq!(
        e.error,
        ProtocolError::TooLong {
            len: MAX_REQUEST + 1,
            max: MAX_REQUEST
        }
    );
    assert_eq!((e.id, e.errno()), (42, libc::EPROTO));
}

#[test]
fn longest_path_is_accepted() {
    let mut path = vec![b'a'; MAX_PATH_LEN];
    path[0] = b'/';
    let r = Request::decode(&good(1, 0, 0, &path)).unwrap();
    assert_eq!(r.path_bytes(), &path[..]);
    assert_eq!(r.encode().unwrap().len(), MAX_REQUEST);
}

#[test]
fn bad_paths_are_einval() {
    let cases: [(&[u8], ProtocolError); 4] = [
        (b"", ProtocolError::EmptyPath),
        (b"etc/passwd", ProtocolError::RelativePath),
        (b"/etc\0/passwd", ProtocolError::NulInPath),
        (b"/etc/passwd\0", ProtocolError::NulInPath),
    ];
    for (path, want) in cases {
        let e = rejected(&good(4, 0, 0, path));
        assert_eq!(e.error, want, "{path:?}");
        assert_eq!(
            (e.id, e.op, e.errno()),
            (42, Some(Op::Readlink), libc::EINVAL)
        );
    }
}

#[test]
fn encode_refuses_what_decode_refuses() {
    let long = format!("/{}", "a".repeat(MAX_PATH_LEN));
    let cases = [
        (Request::new(1, Call::Readlink, ""), libc::EINVAL),
        (Request::new(1, Call::Readlink, "rel"), libc::EINVAL),
        (
            Request::new(
                1,
                Call::Readlink,
                PathBuf::from(OsStr::from_bytes(b"/a\0b")),
            ),
            libc::EINVAL,
        ),
        (Request::new(1, Call::Readlink, long), libc::ENAMETOOLONG),
        (
            Request::new(1, Call::Access { amode: 8 }, "/a"),
            libc::EINVAL,
        ),
        (
            Request::new(1, Call::Access { amode: -1 }, "/a"),
            libc::EINVAL,
        ),
        (
            Request::new(
                1,
                Call::Open {
                    flags: 0,
                    mode: 0o10000,
                },
                "/a",
            ),
            libc::EINVAL,
        ),
    ];
    for (r, errno) in cases {
        assert_eq!(r.encode().map_err(|e| e.errno()), Err(errno), "{r:?}");
    }
}

#[test]
fn bad_arguments_per_op_are_einval() {
    let cases: [(u16, i32, u32); 8] = [
        (1, 0, 0o10000),             // open: mode beyond permission bits
        (2, libc::AT_EMPTY_PATH, 0), // stat: only AT_SYMLINK_NOFOLLOW
        (2, 0, 1),                   // stat: mode unused
        (3, 0, 8),                   // access: unknown bit
        (3, 0, u32::MAX),            // access: negative
        (3, libc::AT_EACCESS, 0),    // access: flags unused
        (4, 1, 0),                   // readlink: flags unused
        (4, 0, 1),                   // readlink: mode unused
    ];
    for (op, flags, mode) in cases {
        let e = rejected(&good(op, flags, mode, b"/x"));
        assert!(
            matches!(e.error, ProtocolError::BadArgument { .. }),
            "{op} {flags} {mode}: {e:?}"
        );
        assert_eq!((e.id, e.errno()), (42, libc::EINVAL));
        assert_eq!(e.op.map(|o| o.to_wire()), Some(op));
    }
}

#[test]
fn open_flags_pass_through_untouched() {
    // The broker's ops layer decides which flags it accepts, not the decoder.
    let r = Request::decode(&good(1, libc::O_PATH | libc::O_TMPFILE | -1, 0o7777, b"/x")).unwrap();
    assert_eq!(
        r.call,
        Call::Open {
            flags: libc::O_PATH | libc::O_TMPFILE | -1,
            mode: 0o7777
        }
    );
}

#[test]
fn malformed_replies_are_rejected() {
    let st = [0u8; 128];
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (raw_reply(1, 1, 0, 1, 0, 0, b"")[..15].to_vec(), "short"),
        (raw_reply(2, 1, 1, 1, 0, 0, b""), "version"),
        (raw_reply(1, 1, 0, 1, 0, 0, b""), "open success without fd"),
        (raw_reply(1, 1, 2, 1, 0, 0, b""), "two fds"),
        (raw_reply(1, 1, 1, 1, 13, 0, b""), "error with fd"),
        (raw_reply(1, 1, 0, 1, 13, 1, b"x"), "error with data"),
        (raw_reply(1, 1, 0, 1, -13, 0, b""), "negative error"),
        (raw_reply(1, 0, 0, 1, 0, 0, b""), "success without op"),
        (raw_reply(1, 9, 0, 1, 13, 0, b""), "unknown op"),
        (raw_reply(1, 2, 0, 1, 0, 127, &st[..127]), "stat short"),
        (raw_reply(1, 2, 0, 1, 0, 128, &st[..127]), "data_len lies"),
        (raw_reply(1, 2, 1, 1, 0, 128, &st), "stat with fd"),
        (raw_reply(1, 3, 0, 1, 0, 1, b"x"), "access with data"),
        (raw_reply(1, 4, 0, 1, 0, 0, b""), "empty readlink"),
        (raw_reply(1, 1, 1, 1, 0, 1, b"x"), "open with data"),
        (raw_reply(1, 4, 0, 1, 0, 4097, &[b'a'; 4097]), "too long"),
    ];
    for (bytes, what) in cases {
        assert!(Reply::decode(&bytes).is_err(), "{what}");
    }
}

#[test]
fn invalid_replies_do_not_encode() {
    let bad = [
        Reply::error(1, None, 0),
        Reply::error(1, None, -5),
        Reply {
            id: 1,
            op: None,
            body: ReplyBody::Access,
        },
        Reply {
            id: 1,
            op: Some(Op::Stat),
            body: ReplyBody::Opened,
        },
        Reply {
            id: 1,
            op: Some(Op::Readlink),
            body: ReplyBody::Readlink(vec![]),
        },
        Reply {
            id: 1,
            op: Some(Op::Readlink),
            body: ReplyBody::Readlink(vec![b'a'; MAX_REPLY_DATA + 1]),
        },
    ];
    for r in bad {
        assert!(r.encode().is_err(), "{r:?}");
    }
}

#[test]
fn largest_reply_fits_the_bound() {
    let r = Reply {
        id: 1,
        op: Some(Op::Readlink),
        body: ReplyBody::Readlink(vec![b'a'; MAX_REPLY_DATA]),
    };
    let b = r.encode().unwrap();
    assert_eq!(b.len(), MAX_REPLY);
    assert_eq!(Reply::decode(&b).unwrap(), r);
}

fn arb_path() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 0..MAX_PATH_LEN).prop_map(|mut v| {
        v.insert(0, b'/');
        v
    })
}

fn arb_call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (any::<i32>(), 0u32..=0o7777).prop_map(|(flags, mode)| Call::Open { flags, mode }),
        any::<bool>().prop_map(|follow| Call::Stat {
            follow: follow.into()
        }),
        (0i32..=7).prop_map(|amode| Call::Access { amode }),
        Just(Call::Readlink),
    ]
}

fn arb_stat() -> impl Strategy<Value = FileStat> {
    (
        prop::array::uniform7(any::<u64>()),
        prop::array::uniform9(any::<i64>()),
    )
        .prop_map(|(u, i)| FileStat {
            dev: u[0],
            ino: u[1],
            mode: u[2],
            nlink: u[3],
            uid: u[4],
            gid: u[5],
            rdev: u[6],
            size: i[0],
            blksize: i[1],
            blocks: i[2],
            atime: i[3],
            atime_nsec: i[4],
            mtime: i[5],
            mtime_nsec: i[6],
            ctime: i[7],
            ctime_nsec: i[8],
        })
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    let op = prop_oneof![
        Just(Op::Open),
        Just(Op::Stat),
        Just(Op::Access),
        Just(Op::Readlink)
    ];
    prop_oneof![
        (any::<u32>(), prop::option::of(op), 1i32..=i32::MAX)
            .prop_map(|(id, op, e)| Reply::error(id, op, e)),
        any::<u32>().prop_map(|id| Reply {
            id,
            op: Some(Op::Open),
            body: ReplyBody::Opened
        }),
        any::<u32>().prop_map(|id| Reply {
            id,
            op: Some(Op::Access),
            body: ReplyBody::Access
        }),
        (any::<u32>(), arb_stat()).prop_map(|(id, st)| Reply {
            id,
            op: Some(Op::Stat),
            body: ReplyBody::Stat(st)
        }),
        (
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 1..=MAX_REPLY_DATA)
        )
            .prop_map(|(id, t)| Reply {
                id,
                op: Some(Op::Readlink),
                body: ReplyBody::Readlink(t)
            }),
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(id in any::<u32>(), call in arb_call(), path in arb_path()) {
        let r = Request::new(id, call, PathBuf::from(OsStr::from_bytes(&path)));
        let bytes = r.encode().unwrap();
        prop_assert_eq!(bytes.len(), 24 + path.len());
        prop_assert_eq!(Request::decode(&bytes).unwrap(), r);
    }

    #[test]
    fn replies_round_trip(r in arb_reply()) {
        let bytes = r.encode().unwrap();
        prop_assert!(bytes.len() <= MAX_REPLY);
        prop_assert_eq!(bytes[3], r.nfds());
        prop_assert_eq!(Reply::decode(&bytes).unwrap(), r);
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..5000)) {
        let _ = Reply::decode(&bytes);
        if let Err(e) = Request::decode(&bytes) {
            // Every rejection is answerable with a valid error reply.
            let reply = e.reply().encode().unwrap();
            prop_assert_eq!(Reply::decode(&reply).unwrap().errno(), e.errno());
            prop_assert!(e.errno() == libc::EPROTO || e.errno() == libc::EINVAL);
        }
    }

    #[test]
    fn mutated_requests_never_panic(
        call in arb_call(),
        path in arb_path(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = Request::new(9, call, PathBuf::from(OsStr::from_bytes(&path))).encode().unwrap();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let len = cut.index(bytes.len() + 1);
        match Request::decode(&bytes[..len]) {
            // Whatever decodes must be valid: re-encoding gives the same bytes.
            Ok(r) => prop_assert_eq!(r.encode().unwrap(), &bytes[..len]),
            Err(e) => prop_assert!(e.reply().encode().is_ok()),
        }
    }

    #[test]
    fn mutated_replies_never_panic(
        r in arb_reply(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = r.encode().unwrap();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(back) = Reply::decode(&bytes) {
            prop_assert_eq!(back.encode().unwrap(), bytes);
        }
    }
}
