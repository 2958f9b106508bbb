//! Client certificate verification against the trust store, as Java's PKIX
//! trust manager does it for ZooKeeper.
//!
//! webpki (rustls's verifier) accepts only X.509 v3 certificates; Java also
//! accepts v1 ones, and test harnesses make them (kazoo's client certificate
//! is v1). So a v1 leaf signed directly by a trust anchor is checked here —
//! validity period, issuer name, signature with ring — and everything else
//! goes to webpki unchanged. Never looks at anything but the certificates.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use super::der::{self, Reader};

#[derive(Debug)]
pub struct ClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    /// Trust anchors as DER, for the v1 path.
    anchors: Vec<CertificateDer<'static>>,
}

impl ClientVerifier {
    pub fn new(inner: Arc<dyn ClientCertVerifier>, anchors: Vec<CertificateDer<'static>>) -> Self {
        ClientVerifier { inner, anchors }
    }
}

/// The parts of a certificate the v1 path uses.
struct Parsed<'a> {
    v1: bool,
    tbs: &'a [u8],
    sig_alg: String,
    signature: &'a [u8],
    issuer: &'a [u8],
    subject: &'a [u8],
    not_before: &'a [u8],
    not_after: &'a [u8],
    /// The subjectPublicKey BIT STRING's bits (unused-bits byte dropped).
    public_key: &'a [u8],
    key_alg: String,
}

fn parse(cert: &[u8]) -> Option<Parsed<'_>> {
    let outer = Reader::new(cert).expect(der::SEQUENCE)?;
    let mut top = Reader::new(outer.content);
    let tbs = top.expect(der::SEQUENCE)?;
    let sig_alg = top.expect(der::SEQUENCE)?;
    let sig_alg = der::oid_dotted(Reader::new(sig_alg.content).expect(der::OID)?.content)?;
    let signature = top.expect(0x03)?.content.get(1..)?;
    let mut f = Reader::new(tbs.content);
    let mut first = f.next_tlv()?;
    let v1 = first.tag != der::CONTEXT_0;
    if !v1 {
        first = f.next_tlv()?;
    }
    let _serial = first;
    f.expect(der::SEQUENCE)?;
    let issuer = f.expect(der::SEQUENCE)?.encoded;
    let validity = f.expect(der::SEQUENCE)?;
    let mut v = Reader::new(validity.content);
    let not_before = v.next_tlv()?;
    let not_after = v.next_tlv()?;
    let subject = f.expect(der::SEQUENCE)?.encoded;
    let spki = f.expect(der::SEQUENCE)?;
    let mut s = Reader::new(spki.content);
    let alg = s.expect(der::SEQUENCE)?;
    let key_alg = der::oid_dotted(Reader::new(alg.content).expect(der::OID)?.content)?;
    let public_key = s.expect(0x03)?.content.get(1..)?;
    Some(Parsed {
        v1,
        tbs: tbs.encoded,
        sig_alg,
        signature,
        issuer,
        subject,
        not_before: not_before.content,
        not_after: not_after.content,
        public_key,
        key_alg,
    })
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) in
/// seconds since the epoch.
fn der_time(t: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(t).ok()?.strip_suffix('Z')?;
    let (year, rest) = match s.len() {
        12 => {
            let yy: i64 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        14 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let n = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, h, m, sec) = (n(0)?, n(2)?, n(4)?, n(6)?, n(8)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + sec).ok()
}

fn cert_algorithm(sig_alg: &str) -> Option<&'static dyn ring::signature::VerificationAlgorithm> {
    use ring::signature as s;
    Some(match sig_alg {
        "1.2.840.113549.1.1.11" => &s::RSA_PKCS1_2048_8192_SHA256,
        "1.2.840.113549.1.1.12" => &s::RSA_PKCS1_2048_8192_SHA384,
        "1.2.840.113549.1.1.13" => &s::RSA_PKCS1_2048_8192_SHA512,
        "1.2.840.113549.1.1.5" => &s::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        "1.2.840.10045.4.3.2" => &s::ECDSA_P256_SHA256_ASN1,
        "1.2.840.10045.4.3.3" => &s::ECDSA_P384_SHA384_ASN1,
        _ => return None,
    })
}

fn scheme_algorithm(
    scheme: SignatureScheme,
) -> Option<&'static dyn ring::signature::VerificationAlgorithm> {
    use ring::signature as s;
    Some(match scheme {
        SignatureScheme::RSA_PKCS1_SHA256 => &s::RSA_PKCS1_2048_8192_SHA256,
        SignatureScheme::RSA_PKCS1_SHA384 => &s::RSA_PKCS1_2048_8192_SHA384,
        SignatureScheme::RSA_PKCS1_SHA512 => &s::RSA_PKCS1_2048_8192_SHA512,
        SignatureScheme::RSA_PSS_SHA256 => &s::RSA_PSS_2048_8192_SHA256,
        SignatureScheme::RSA_PSS_SHA384 => &s::RSA_PSS_2048_8192_SHA384,
        SignatureScheme::RSA_PSS_SHA512 => &s::RSA_PSS_2048_8192_SHA512,
        SignatureScheme::ECDSA_NISTP256_SHA256 => &s::ECDSA_P256_SHA256_ASN1,
        SignatureScheme::ECDSA_NISTP384_SHA384 => &s::ECDSA_P384_SHA384_ASN1,
        _ => return None,
    })
}

const RSA_KEY: &str = "1.2.840.113549.1.1.1";

impl ClientVerifier {
    fn verify_v1(&self, leaf: &Parsed<'_>, now: UnixTime) -> Result<(), Error> {
        let bad = |e: CertificateError| Error::InvalidCertificate(e);
        let now_s = now.as_secs();
        let (from, until) = der_time(leaf.not_before)
            .zip(der_time(leaf.not_after))
            .ok_or(bad(CertificateError::BadEncoding))?;
        if now_s < from {
            return Err(bad(CertificateError::NotValidYet));
        }
        if now_s > until {
            return Err(bad(CertificateError::Expired));
        }
        let alg = cert_algorithm(&leaf.sig_alg).ok_or(bad(CertificateError::BadSignature))?;
        for anchor in &self.anchors {
            let Some(a) = parse(anchor) else { continue };
            if a.subject != leaf.issuer {
                continue;
            }
            let key = ring::signature::UnparsedPublicKey::new(alg, a.public_key);
            if key.verify(leaf.tbs, leaf.signature).is_ok() {
                return Ok(());
            }
        }
        Err(bad(CertificateError::UnknownIssuer))
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        match parse(end_entity) {
            Some(leaf) if leaf.v1 => self
                .verify_v1(&leaf, now)
                .map(|_| ClientCertVerified::assertion()),
            _ => self
                .inner
                .verify_client_cert(end_entity, intermediates, now),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match parse(cert) {
            Some(leaf) if leaf.v1 => verify_handshake(&leaf, message, dss),
            _ => self.inner.verify_tls12_signature(message, cert, dss),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match parse(cert) {
            Some(leaf) if leaf.v1 => verify_handshake(&leaf, message, dss),
            _ => self.inner.verify_tls13_signature(message, cert, dss),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The CertificateVerify signature of a v1 leaf, with its own key.
fn verify_handshake(
    leaf: &Parsed<'_>,
    message: &[u8],
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, Error> {
    let scheme = dss.scheme;
    let rsa_scheme = matches!(
        scheme,
        SignatureScheme::RSA_PKCS1_SHA256
            | SignatureScheme::RSA_PKCS1_SHA384
            | SignatureScheme::RSA_PKCS1_SHA512
            | SignatureScheme::RSA_PSS_SHA256
            | SignatureScheme::RSA_PSS_SHA384
            | SignatureScheme::RSA_PSS_SHA512
    );
    let alg = scheme_algorithm(scheme)
        .filter(|_| rsa_scheme == (leaf.key_alg == RSA_KEY))
        .ok_or(Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        ))?;
    ring::signature::UnparsedPublicKey::new(alg, leaf.public_key)
        .verify(message, dss.signature())
        .map(|_| HandshakeSignatureValid::assertion())
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadSignature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_times_convert_to_epoch_seconds() {
        assert_eq!(der_time(b"700101000000Z"), Some(0));
        assert_eq!(der_time(b"20000301000000Z"), Some(951_868_800));
        assert_eq!(der_time(b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(der_time(b"0001"), None);
    }
}
