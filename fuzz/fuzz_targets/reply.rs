//! The client's reply decoder (`Reply::decode`) on arbitrary records.
//!
//! Properties: never panics; whatever decodes re-encodes to the same bytes
//! and announces at most one descriptor.
#![no_main]

use fdbroker::protocol::{MAX_REPLY, Reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = Reply::decode(data) {
        assert!(data.len() <= MAX_REPLY);
        assert!(reply.nfds() <= 1);
        let again = reply.encode().expect("a decoded reply encodes");
        assert_eq!(again, data, "decode/encode round trip");
    }
});
