//! A TLS client's certificate, DER as it arrives in the handshake: its
//! subject printed as Java's `X500Principal.getName()` does
//! (`tls::subject_rfc2253`, the client's `x509` id), through the DER reader
//! that also walks JKS key entries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = corral::tls::subject_rfc2253(data);
});
