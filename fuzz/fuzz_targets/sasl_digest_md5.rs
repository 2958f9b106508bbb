//! A client's SASL token (opcode 102's body) to the DIGEST-MD5 server, as
//! `server::conn` hands it over: the first token gets the challenge, the
//! second is the client's digest-response (`Directives::parse`, then the
//! checks and the response value).
#![no_main]

use corral::sasl::{Exchange, Outcome};
use libfuzzer_sys::fuzz_target;

/// Fixed "random" bytes: the nonce is then `BwcHBwcH...` (40 characters), which
/// the seed corpus's responses are computed with.
const RANDOM: [u8; 30] = [7; 30];

fuzz_target!(|data: &[u8]| {
    let mut exchange = Exchange::new(RANDOM);
    let first = exchange.evaluate(&[], |_| None);
    assert!(matches!(first, Ok(Outcome::Continue(_))), "{first:?}");
    let password = |user: &str| match user {
        "bob" => Some("bobsecret".to_string()),
        "super" => Some("adminsecret".to_string()),
        _ => None,
    };
    if let Ok(Outcome::Authenticated { id, .. }) = exchange.evaluate(data, password) {
        assert!(id == "bob" || id == "super", "authenticated as {id:?}");
    }
    // The exchange is over, whatever the token was.
    assert!(exchange.evaluate(data, |_| None).is_err());
});
