//! A certificate's subject as Java's `X500Principal.getName()` prints it
//! (RFC 2253 form): the id ZooKeeper's `X509AuthenticationProvider` gives an
//! authenticated TLS client under the `x509` scheme, so ACLs written for
//! ZooKeeper match the same clients here. Pure function over DER bytes.

use super::der::{self, Reader};

/// The attribute types Java names by keyword in RFC 2253 output; every other
/// type is printed as its dotted OID with the value's DER in hex.
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// Characters Java escapes with a backslash anywhere in an RFC 2253 value.
const ESCAPED: &str = ",=+<>#;\"\\";

/// The subject of an X.509 certificate (DER) in RFC 2253 form, or `None` if
/// the certificate does not parse that far.
pub fn subject_rfc2253(cert_der: &[u8]) -> Option<String> {
    let cert = Reader::new(cert_der).expect(der::SEQUENCE)?;
    let tbs = Reader::new(cert.content).expect(der::SEQUENCE)?;
    let mut fields = Reader::new(tbs.content);
    let mut first = fields.next_tlv()?;
    if first.tag == der::CONTEXT_0 {
        first = fields.next_tlv()?; // version; then the serial number
    }
    let _ = first;
    let _signature = fields.expect(der::SEQUENCE)?;
    let _issuer = fields.expect(der::SEQUENCE)?;
    let _validity = fields.expect(der::SEQUENCE)?;
    let subject = fields.expect(der::SEQUENCE)?;
    name_rfc2253(subject.content)
}

/// An RDNSequence's content, last RDN first, as RFC 2253 says.
fn name_rfc2253(rdn_sequence: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    let mut r = Reader::new(rdn_sequence);
    while !r.is_empty() {
        let set = r.expect(der::SET)?;
        let mut avas = Vec::new();
        let mut s = Reader::new(set.content);
        while !s.is_empty() {
            let ava = s.expect(der::SEQUENCE)?;
            let mut a = Reader::new(ava.content);
            let oid = der::oid_dotted(a.expect(der::OID)?.content)?;
            let value = a.next_tlv()?;
            avas.push(ava_rfc2253(&oid, value));
        }
        rdns.push(avas.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

fn ava_rfc2253(oid: &str, value: der::Tlv<'_>) -> String {
    let keyword = KEYWORDS.iter().find(|(o, _)| *o == oid).map(|(_, k)| *k);
    match (keyword, string_value(value)) {
        (Some(k), Some(text)) => format!("{k}={}", escape(&text)),
        (k, _) => {
            let hex: String = value.encoded.iter().map(|b| format!("{b:02x}")).collect();
            format!("{}=#{hex}", k.unwrap_or(oid))
        }
    }
}

/// The directory-string types Java prints as text.
fn string_value(v: der::Tlv<'_>) -> Option<String> {
    match v.tag {
        // UTF8String, PrintableString, IA5String
        0x0c | 0x13 | 0x16 => std::str::from_utf8(v.content).ok().map(str::to_string),
        // TeletexString, GeneralString: Java reads them as ISO-8859-1
        0x14 | 0x1b => Some(v.content.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE
        0x1e => {
            let units: Vec<u16> = v
                .content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

fn escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let blank = |c: &char| *c == ' ' || *c == '\r';
    let lead = chars.iter().take_while(|c| blank(c)).count();
    let trail = chars.iter().rev().take_while(|c| blank(c)).count();
    let mut out = String::with_capacity(text.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        if ESCAPED.contains(c) || i < lead || i >= chars.len() - trail {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        assert!(content.len() < 0x80);
        let mut v = vec![tag, content.len() as u8];
        v.extend_from_slice(content);
        v
    }

    fn rdn(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut ava = tlv(der::OID, oid);
        ava.extend(tlv(tag, value));
        tlv(der::SET, &tlv(der::SEQUENCE, &ava))
    }

    /// A certificate made by `openssl req` with an awkward subject; the
    /// expected string is what Java 17's `getSubjectX500Principal().getName()`
    /// printed for it.
    #[test]
    fn subject_matches_what_java_prints_for_the_same_certificate() {
        let cert = include_bytes!("testdata/odd-subject.der");
        assert_eq!(
            subject_rfc2253(cert).as_deref(),
            Some(
                "2.5.4.5=#13023432,STREET=Main St,UID=jdoe,DC=example,\
                 OU=u2+CN=\\ \\#x\\=1\\;\\<a\\>\\\"b\\\",\
                 1.2.840.113549.1.9.1=#160964657640782e6f7267,O=ZooKeeper,ST=California,C=US"
            )
        );
    }

    #[test]
    fn rdns_print_last_first_with_keywords_escapes_and_hex_for_unknown_types() {
        let c = rdn(&[0x55, 0x04, 0x06], 0x13, b"US");
        let o = rdn(&[0x55, 0x04, 0x0a], 0x0c, b"Acme, Inc.");
        let email = rdn(
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
            0x16,
            b"a@b",
        );
        let cn = rdn(&[0x55, 0x04, 0x03], 0x0c, b" #x=1 ");
        let name = [c, o, email, cn].concat();
        assert_eq!(
            name_rfc2253(&name).as_deref(),
            Some("CN=\\ \\#x\\=1\\ ,1.2.840.113549.1.9.1=#1603614062,O=Acme\\, Inc.,C=US")
        );
    }
}
