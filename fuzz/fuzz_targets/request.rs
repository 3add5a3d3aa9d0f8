//! The broker's request decoder (`Request::decode`) on arbitrary records.
//!
//! Properties: never panics; whatever decodes re-encodes to the same bytes;
//! every rejection yields an error reply that encodes, decodes back with the
//! same errno, and is `EPROTO` or `EINVAL`; an accepted `open` request's
//! flags go through `OpenFlags::parse` without panicking.
#![no_main]

use fdbroker::ops::flags::{Object, OpenFlags};
use fdbroker::protocol::{Call, Reply, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Request::decode(data) {
        Ok(request) => {
            let again = request.encode().expect("a decoded request encodes");
            assert_eq!(again, data, "decode/encode round trip");
            if let Call::Open { flags, .. } = request.call
                && let Ok(f) = OpenFlags::parse(flags)
            {
                let _ = (
                    f.rights(Object::Existing),
                    f.rights(Object::New),
                    f.reopen_flags(),
                    f.create_flags(),
                );
            }
        }
        Err(rejected) => {
            let errno = rejected.errno();
            assert!(
                errno == libc::EPROTO || errno == libc::EINVAL,
                "errno {errno}"
            );
            let bytes = rejected
                .reply()
                .encode()
                .expect("a rejection's reply encodes");
            let back = Reply::decode(&bytes).expect("the error reply decodes");
            assert_eq!(back.errno(), errno);
            assert_eq!(back.id, rejected.id);
        }
    }
});
