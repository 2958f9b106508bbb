//! Java's JKS keystore format (`0xFEEDFEED`), read-only: private key entries
//! with their certificate chains and trusted certificate entries.
//!
//! The layout and the two checks are Sun's: the file ends with a SHA-1 digest
//! keyed with the store password (UTF-16BE, then the bytes of "Mighty
//! Aphrodite", then every byte before the digest), and each private key is an
//! `EncryptedPrivateKeyInfo` whose data is a 20-byte salt, the PKCS#8 key
//! XORed with a SHA-1 keystream (`d0 = salt`, `dn = SHA1(password || dn-1)`),
//! and a 20-byte `SHA1(password || key)` check. This module never writes a
//! keystore and never touches files: it takes bytes.

use super::der;
use sha1::{Digest, Sha1};

pub const MAGIC: u32 = 0xfeed_feed;
const DIGEST_BYTES: usize = 20;
const INTEGRITY_SALT: &[u8] = b"Mighty Aphrodite";
/// Sun's proprietary key protection algorithm, 1.3.6.1.4.1.42.2.17.1.1.
const KEY_PROTECTOR_OID: &str = "1.3.6.1.4.1.42.2.17.1.1";
const TAG_PRIVATE_KEY: u32 = 1;
const TAG_TRUSTED_CERT: u32 = 2;

/// What a JKS file holds, keys already decrypted.
#[derive(Debug, Default)]
pub struct JksStore {
    /// Private key entries in file order: the PKCS#8 DER key and its chain
    /// (leaf first), certificates as DER.
    pub keys: Vec<KeyEntry>,
    /// Trusted certificate entries, DER.
    pub trusted: Vec<Vec<u8>>,
}

#[derive(Debug)]
pub struct KeyEntry {
    pub alias: String,
    pub pkcs8: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JksError {
    #[error("not a JKS keystore (no 0xFEEDFEED magic)")]
    NotJks,
    #[error("truncated or malformed JKS keystore ({0})")]
    Malformed(&'static str),
    #[error("unsupported JKS version {0}")]
    Version(u32),
    #[error("keystore password was incorrect (integrity check failed)")]
    WrongStorePassword,
    #[error("cannot recover the key of entry {0:?}: wrong password (key check failed)")]
    WrongKeyPassword(String),
    #[error("entry {alias:?} is protected with {algorithm}, not Sun's JKS key protector")]
    KeyAlgorithm { alias: String, algorithm: String },
    #[error("unsupported entry type {0} (JCEKS secret keys are not read)")]
    EntryType(u32),
}

/// Parses `bytes` as a JKS keystore. `password` checks the integrity digest
/// (skipped when `None`, as Java skips it for a null password) and decrypts
/// the private keys (`None` decrypts with the empty password).
pub fn parse(bytes: &[u8], password: Option<&str>) -> Result<JksStore, JksError> {
    let pw = password_bytes(password.unwrap_or(""));
    if bytes.len() < 4 || read_u32(bytes, 0) != Some(MAGIC) {
        return Err(JksError::NotJks);
    }
    if bytes.len() < 12 + DIGEST_BYTES {
        return Err(JksError::Malformed("shorter than its header and digest"));
    }
    let (body, digest) = bytes.split_at(bytes.len() - DIGEST_BYTES);
    if password.is_some() {
        let mut h = Sha1::new();
        h.update(&pw);
        h.update(INTEGRITY_SALT);
        h.update(body);
        if h.finalize().as_slice() != digest {
            return Err(JksError::WrongStorePassword);
        }
    }
    let mut c = Cursor { buf: body, at: 4 };
    let version = c.u32()?;
    if version != 1 && version != 2 {
        return Err(JksError::Version(version));
    }
    let count = c.u32()?;
    let mut store = JksStore::default();
    for _ in 0..count {
        let tag = c.u32()?;
        let alias = c.utf()?;
        let _timestamp_ms = c.u64()?;
        match tag {
            TAG_PRIVATE_KEY => {
                let n = c.u32()? as usize;
                let protected = c.take(n)?;
                let chain_len = c.u32()?;
                let mut chain = Vec::new();
                for _ in 0..chain_len {
                    chain.push(c.cert(version)?);
                }
                let pkcs8 = recover_key(&alias, protected, &pw)?;
                store.keys.push(KeyEntry {
                    alias,
                    pkcs8,
                    chain,
                });
            }
            TAG_TRUSTED_CERT => store.trusted.push(c.cert(version)?),
            other => return Err(JksError::EntryType(other)),
        }
    }
    if c.at != body.len() {
        return Err(JksError::Malformed("bytes after the last entry"));
    }
    Ok(store)
}

/// Java hands passwords around as `char[]`; the digests see each UTF-16
/// unit big-endian.
fn password_bytes(password: &str) -> Vec<u8> {
    password.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

fn recover_key(alias: &str, protected: &[u8], pw: &[u8]) -> Result<Vec<u8>, JksError> {
    let bad = JksError::Malformed("private key entry is not an EncryptedPrivateKeyInfo");
    let mut outer = der::Reader::new(protected);
    let info = outer.expect(der::SEQUENCE).ok_or(bad.clone())?;
    let mut fields = der::Reader::new(info.content);
    let alg = fields.expect(der::SEQUENCE).ok_or(bad.clone())?;
    let oid = der::Reader::new(alg.content)
        .expect(der::OID)
        .and_then(|o| der::oid_dotted(o.content))
        .ok_or(bad.clone())?;
    if oid != KEY_PROTECTOR_OID {
        return Err(JksError::KeyAlgorithm {
            alias: alias.to_string(),
            algorithm: oid,
        });
    }
    let data = fields.expect(der::OCTET_STRING).ok_or(bad)?.content;
    if data.len() < 2 * DIGEST_BYTES {
        return Err(JksError::Malformed(
            "protected key shorter than salt and check",
        ));
    }
    let (salt, rest) = data.split_at(DIGEST_BYTES);
    let (encrypted, check) = rest.split_at(rest.len() - DIGEST_BYTES);
    let mut key = Vec::with_capacity(encrypted.len());
    let mut block: [u8; DIGEST_BYTES] = salt.try_into().map_err(|_| JksError::Malformed("salt"))?;
    for chunk in encrypted.chunks(DIGEST_BYTES) {
        let mut h = Sha1::new();
        h.update(pw);
        h.update(block);
        block = h.finalize().into();
        key.extend(chunk.iter().zip(block.iter()).map(|(c, k)| c ^ k));
    }
    let mut h = Sha1::new();
    h.update(pw);
    h.update(&key);
    if h.finalize().as_slice() != check {
        return Err(JksError::WrongKeyPassword(alias.to_string()));
    }
    Ok(key)
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], JksError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(JksError::Malformed("entry runs past the end"))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, JksError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, JksError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// `DataOutput.writeUTF`: a u16 length and modified UTF-8 (read lossily:
    /// aliases and certificate types are only shown, never matched).
    fn utf(&mut self) -> Result<String, JksError> {
        let b = self.take(2)?;
        let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    fn cert(&mut self, version: u32) -> Result<Vec<u8>, JksError> {
        if version == 2 {
            let kind = self.utf()?;
            if kind != "X.509" {
                return Err(JksError::Malformed("certificate type other than X.509"));
            }
        }
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a JKS store as Java writes one, with one key entry protected
    /// the same way: an independent encoder for the format the reader parses.
    pub(crate) fn build(password: &str, key: &[u8], chain: &[&[u8]], trusted: &[&[u8]]) -> Vec<u8> {
        let pw = password_bytes(password);
        let salt = [0x5au8; 20];
        let mut stream = Vec::new();
        let mut block = salt;
        while stream.len() < key.len() {
            let mut h = Sha1::new();
            h.update(&pw);
            h.update(block);
            block = h.finalize().into();
            stream.extend_from_slice(&block);
        }
        let mut data = salt.to_vec();
        data.extend(key.iter().zip(&stream).map(|(k, s)| k ^ s));
        let mut h = Sha1::new();
        h.update(&pw);
        h.update(key);
        data.extend_from_slice(&h.finalize());
        // EncryptedPrivateKeyInfo { { OID 1.3.6.1.4.1.42.2.17.1.1, NULL }, OCTET STRING }
        let oid = [
            0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01,
        ];
        let mut alg = vec![0x30, (oid.len() + 2) as u8];
        alg.extend_from_slice(&oid);
        alg.extend_from_slice(&[0x05, 0x00]);
        let mut octets = vec![0x04];
        push_len(&mut octets, data.len());
        octets.extend_from_slice(&data);
        let mut info = vec![0x30];
        push_len(&mut info, alg.len() + octets.len());
        info.extend_from_slice(&alg);
        info.extend_from_slice(&octets);

        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&2u32.to_be_bytes());
        out.extend_from_slice(&(1 + trusted.len() as u32).to_be_bytes());
        let utf = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        out.extend_from_slice(&TAG_PRIVATE_KEY.to_be_bytes());
        utf(&mut out, "server");
        out.extend_from_slice(&0u64.to_be_bytes());
        out.extend_from_slice(&(info.len() as u32).to_be_bytes());
        out.extend_from_slice(&info);
        out.extend_from_slice(&(chain.len() as u32).to_be_bytes());
        for cert in chain {
            utf(&mut out, "X.509");
            out.extend_from_slice(&(cert.len() as u32).to_be_bytes());
            out.extend_from_slice(cert);
        }
        for (i, cert) in trusted.iter().enumerate() {
            out.extend_from_slice(&TAG_TRUSTED_CERT.to_be_bytes());
            utf(&mut out, &format!("ca{i}"));
            out.extend_from_slice(&0u64.to_be_bytes());
            utf(&mut out, "X.509");
            out.extend_from_slice(&(cert.len() as u32).to_be_bytes());
            out.extend_from_slice(cert);
        }
        let mut h = Sha1::new();
        h.update(&pw);
        h.update(INTEGRITY_SALT);
        h.update(&out);
        out.extend_from_slice(&h.finalize());
        out
    }

    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
    }

    #[test]
    fn key_and_chain_and_trusted_certs_round_trip() {
        let key: Vec<u8> = (0..1217u32).map(|i| (i * 7) as u8).collect();
        let store = build("apassword", &key, &[b"leaf", b"ca"], &[b"root"]);
        let parsed = parse(&store, Some("apassword")).expect("parses");
        assert_eq!(parsed.keys.len(), 1);
        assert_eq!(parsed.keys[0].alias, "server");
        assert_eq!(parsed.keys[0].pkcs8, key);
        assert_eq!(parsed.keys[0].chain, vec![b"leaf".to_vec(), b"ca".to_vec()]);
        assert_eq!(parsed.trusted, vec![b"root".to_vec()]);
    }

    #[test]
    fn wrong_password_fails_the_integrity_check() {
        let store = build("apassword", b"key bytes", &[b"leaf"], &[]);
        assert_eq!(
            parse(&store, Some("other")).err(),
            Some(JksError::WrongStorePassword)
        );
    }

    #[test]
    fn without_a_password_the_digest_is_skipped_but_the_key_check_is_not() {
        let store = build("apassword", b"key bytes", &[b"leaf"], &[]);
        assert_eq!(
            parse(&store, None).err(),
            Some(JksError::WrongKeyPassword("server".into()))
        );
        let open = build("", b"key bytes", &[b"leaf"], &[]);
        assert!(parse(&open, None).is_ok());
    }

    #[test]
    fn a_flipped_byte_or_a_cut_file_is_refused_not_misread() {
        let mut store = build("pw", b"key bytes", &[b"leaf"], &[b"root"]);
        assert_eq!(
            parse(b"PK\x03\x04rest", Some("pw")).err(),
            Some(JksError::NotJks)
        );
        let cut = &store[..store.len() - 30];
        assert!(parse(cut, None).is_err());
        store[40] ^= 1;
        assert_eq!(
            parse(&store, Some("pw")).err(),
            Some(JksError::WrongStorePassword)
        );
    }
}
