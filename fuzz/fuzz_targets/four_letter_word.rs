//! The first four bytes of a client connection, before any handshake: a
//! four-letter word (`admin::four_letter_word`, as `server::conn`'s read loop
//! sniffs it) or else the handshake frame's length.
#![no_main]

use corral::admin::four_letter_word;
use corral::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut first = [0u8; 4];
    let n = data.len().min(4);
    first[..n].copy_from_slice(&data[..n]);
    let Some(cmd) = four_letter_word(u32::from_be_bytes(first)) else {
        return;
    };
    // A word is recognised only by its own four bytes.
    assert_eq!(cmd.as_bytes(), &first);
    let _ = Config::default().four_letter_allowed(cmd);
});
