//! The post decoder on any bytes: a post that keeps the limits, or a named
//! rejection; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onrust_signal::{decode, Limits};

fuzz_target!(|bytes: &[u8]| {
    let limits = Limits {
        max_message_bytes: 4096,
        max_text_bytes: 1024,
        ..Limits::default()
    };
    match decode(bytes, &limits, Some(0), 0) {
        Ok(post) => {
            assert!(bytes.len() <= limits.max_message_bytes);
            assert!(!post.id.is_empty());
            assert!(!post.text.trim().is_empty() && post.text.len() <= limits.max_text_bytes);
            if let Some(geo) = post.geo {
                assert!((-90.0..=90.0).contains(&geo.lat) && (-180.0..=180.0).contains(&geo.lon));
            }
        }
        Err(reason) => assert!(!reason.as_str().is_empty()),
    }
});
