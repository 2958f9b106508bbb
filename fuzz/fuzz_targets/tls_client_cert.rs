//! A TLS client's certificate as the secure port checks it, before any
//! authentication (`tls::ClientVerifier::verify_client_cert`): parsed by hand
//! (`verify::parse`, the DER reader, validity times) to tell an X.509 v1 leaf,
//! which is checked against the trust anchors here (their DER parsed the same
//! way, the signature checked with ring), from anything else, which goes to
//! rustls's verifier (a stand-in that refuses everything here).
//!
//! Input: a big-endian u16 `n`, `n` bytes of trust anchor DER, then the leaf's DER.
#![no_main]

use corral::tls::ClientVerifier;
use libfuzzer_sys::fuzz_target;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use std::sync::Arc;
use std::time::Duration;

/// 2030-01-01T00:00:00Z: inside the seed certificates' validity.
const NOW_S: u64 = 1_893_456_000;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let n = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    let (anchor, leaf) = rest.split_at(n);
    let anchors = vec![CertificateDer::from(anchor.to_vec())];
    let verifier = ClientVerifier::new(Arc::new(Refuse), anchors);
    let now = UnixTime::since_unix_epoch(Duration::from_secs(NOW_S));
    let _ = verifier.verify_client_cert(&CertificateDer::from(leaf), &[], now);
});

/// What rustls's verifier stands for: it refuses every certificate.
#[derive(Debug)]
struct Refuse;

impl ClientCertVerifier for Refuse {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        Err(Error::General("refused".into()))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::General("refused".into()))
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::General("refused".into()))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ECDSA_NISTP256_SHA256]
    }
}
