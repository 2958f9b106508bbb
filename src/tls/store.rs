//! Key and trust stores from files: PEM, JKS and PKCS12, as ZooKeeper's
//! `X509Util` loads them for `ssl.keyStore.*` and `ssl.trustStore.*`.
//!
//! JKS and PKCS12 are told apart by content, not by the configured type: the
//! JDK ZooKeeper runs on reads either format under either name
//! (`keystore.type.compat`), and `keytool -importkeystore -destkeystore x.jks`
//! writes PKCS12 since Java 9. Reads files; builds no TLS state.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::jks;

/// `ssl.*Store.type`, or the type the file name implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    Pem,
    Jks,
    Pkcs12,
}

impl StoreType {
    /// ZooKeeper's `KeyStoreFileType.fromPropertyValue`: case-insensitive.
    pub fn parse(value: &str) -> Option<StoreType> {
        match value.to_ascii_uppercase().as_str() {
            "PEM" => Some(StoreType::Pem),
            "JKS" => Some(StoreType::Jks),
            "PKCS12" => Some(StoreType::Pkcs12),
            _ => None,
        }
    }

    /// ZooKeeper's `KeyStoreFileType.fromFilename`: `.pem`, `.jks`, `.p12`.
    pub fn from_file_name(path: &Path) -> Option<StoreType> {
        match path.extension()?.to_str()? {
            "pem" => Some(StoreType::Pem),
            "jks" => Some(StoreType::Jks),
            "p12" => Some(StoreType::Pkcs12),
            _ => None,
        }
    }
}

/// One configured store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub location: PathBuf,
    pub password: Option<String>,
    pub store_type: StoreType,
}

/// Which part of a store's settings an error is about (config names the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreField {
    Location,
    Password,
    Type,
}

#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct StoreError {
    pub field: StoreField,
    pub reason: String,
}

fn err(field: StoreField, reason: impl Into<String>) -> StoreError {
    StoreError {
        field,
        reason: reason.into(),
    }
}

/// A server's certificate chain (leaf first) and private key.
#[derive(Debug)]
pub struct KeyMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn read(s: &StoreSettings) -> Result<Vec<u8>, StoreError> {
    std::fs::read(&s.location).map_err(|e| {
        err(
            StoreField::Location,
            format!("cannot read {}: {e}", s.location.display()),
        )
    })
}

fn is_jks(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) == jks::MAGIC
}

fn jks_error(e: jks::JksError) -> StoreError {
    let field = match e {
        jks::JksError::WrongStorePassword | jks::JksError::WrongKeyPassword(_) => {
            StoreField::Password
        }
        _ => StoreField::Location,
    };
    err(field, e.to_string())
}

fn pkcs12(bytes: &[u8], password: Option<&str>) -> Result<p12_keystore::KeyStore, StoreError> {
    p12_keystore::KeyStore::from_pkcs12(
        bytes,
        password.unwrap_or(""),
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .map_err(|e| {
        // The MAC check fails first on a wrong password.
        let text = e.to_string();
        let field = if text.to_ascii_lowercase().contains("mac") {
            StoreField::Password
        } else {
            StoreField::Location
        };
        err(
            field,
            format!("not a readable PKCS12 keystore (or wrong password): {text}"),
        )
    })
}

/// The first private key entry of a key store, with its chain.
pub fn load_key_store(s: &StoreSettings) -> Result<KeyMaterial, StoreError> {
    let bytes = read(s)?;
    let material = match s.store_type {
        StoreType::Pem => pem_key_store(&bytes)?,
        StoreType::Jks | StoreType::Pkcs12 if is_jks(&bytes) => {
            let store = jks::parse(&bytes, s.password.as_deref()).map_err(jks_error)?;
            let entry = store.keys.into_iter().next().ok_or_else(|| {
                err(
                    StoreField::Location,
                    "the keystore has no private key entry",
                )
            })?;
            tracing::debug!(alias = %entry.alias, "keystore: using the first private key entry");
            KeyMaterial {
                chain: entry.chain.into_iter().map(CertificateDer::from).collect(),
                key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.pkcs8)),
            }
        }
        StoreType::Jks | StoreType::Pkcs12 => {
            let store = pkcs12(&bytes, s.password.as_deref())?;
            let (_, chain) = store.private_key_chain().ok_or_else(|| {
                err(
                    StoreField::Location,
                    "the keystore has no private key entry",
                )
            })?;
            KeyMaterial {
                chain: chain
                    .certs()
                    .iter()
                    .map(|c| CertificateDer::from(c.as_der().to_vec()))
                    .collect(),
                key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec())),
            }
        }
    };
    if material.chain.is_empty() {
        return Err(err(
            StoreField::Location,
            "the keystore's private key has no certificate",
        ));
    }
    Ok(material)
}

/// ZooKeeper's `PEMFileLoader`: one file holding the private key and the
/// certificate chain.
fn pem_key_store(bytes: &[u8]) -> Result<KeyMaterial, StoreError> {
    if bytes
        .windows(b"ENCRYPTED PRIVATE KEY".len())
        .any(|w| w == b"ENCRYPTED PRIVATE KEY")
    {
        return Err(err(
            StoreField::Location,
            "encrypted PEM private keys are not supported; store the key unencrypted or use JKS/PKCS12",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(bytes)
        .map_err(|e| err(StoreField::Location, format!("no PEM private key: {e}")))?;
    let chain = pem_certs(bytes)?;
    Ok(KeyMaterial { chain, key })
}

fn pem_certs(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(StoreField::Location, format!("bad PEM certificate: {e}")))
}

/// The trusted certificates of a trust store.
pub fn load_trust_store(s: &StoreSettings) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let bytes = read(s)?;
    let certs = match s.store_type {
        StoreType::Pem => pem_certs(&bytes)?,
        StoreType::Jks | StoreType::Pkcs12 if is_jks(&bytes) => {
            let store = jks::parse(&bytes, s.password.as_deref()).map_err(jks_error)?;
            store
                .trusted
                .into_iter()
                .map(CertificateDer::from)
                .collect()
        }
        StoreType::Jks | StoreType::Pkcs12 => pkcs12(&bytes, s.password.as_deref())?
            .entries()
            .filter_map(|(_, e)| match e {
                p12_keystore::KeyStoreEntry::Certificate(c) => {
                    Some(CertificateDer::from(c.as_der().to_vec()))
                }
                _ => None,
            })
            .collect(),
    };
    if certs.is_empty() {
        return Err(err(
            StoreField::Location,
            "the trust store holds no trusted certificate",
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    //! Stores written by the JDK's `keytool` at test time (skipped, with a
    //! note, where no JDK is installed).
    use super::*;
    use std::process::Command;

    const PW: &str = "apassword";

    fn keytool(args: &[&str]) -> bool {
        match Command::new("keytool").args(args).output() {
            Ok(out) if out.status.success() => true,
            Ok(out) => panic!(
                "keytool {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(_) => {
                eprintln!("no keytool on this machine: skipping");
                false
            }
        }
    }

    /// A key pair in a store of `store_type` at `path`; false without a JDK.
    fn gen_key(path: &Path, store_type: &str) -> bool {
        keytool(&[
            "-genkeypair",
            "-alias",
            "server",
            "-keyalg",
            "RSA",
            "-keysize",
            "2048",
            "-dname",
            "CN=server,O=corral",
            "-validity",
            "2",
            "-storetype",
            store_type,
            "-keystore",
            path.to_str().unwrap_or_default(),
            "-storepass",
            PW,
            "-keypass",
            PW,
        ])
    }

    fn spec(path: &Path, store_type: StoreType, password: &str) -> StoreSettings {
        StoreSettings {
            location: path.to_path_buf(),
            password: Some(password.to_string()),
            store_type,
        }
    }

    fn assert_usable(m: &KeyMaterial) {
        assert_eq!(m.chain.len(), 1);
        let provider = rustls::crypto::ring::default_provider();
        assert!(
            provider
                .key_provider
                .load_private_key(m.key.clone_key())
                .is_ok()
        );
        assert_eq!(
            super::super::subject_rfc2253(&m.chain[0]).as_deref(),
            Some("CN=server,O=corral")
        );
    }

    #[test]
    fn keytool_jks_and_pkcs12_key_stores_load_and_refuse_a_wrong_password() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, kt_type, ty) in [
            ("k.jks", "JKS", StoreType::Jks),
            ("k.p12", "PKCS12", StoreType::Pkcs12),
        ] {
            let path = dir.path().join(name);
            if !gen_key(&path, kt_type) {
                return;
            }
            let bytes = std::fs::read(&path).expect("store written");
            assert_eq!(is_jks(&bytes), kt_type == "JKS", "{name}");
            let m = load_key_store(&spec(&path, ty, PW)).expect("loads");
            assert_usable(&m);
            let e = load_key_store(&spec(&path, ty, "wrong"))
                .err()
                .map(|e| e.field);
            assert_eq!(e, Some(StoreField::Password), "{name}");
        }
    }

    #[test]
    fn a_pkcs12_file_named_jks_loads_as_the_jdk_reads_it() {
        // `keytool -importkeystore -destkeystore x.jks` writes PKCS12.
        let dir = tempfile::tempdir().expect("temp dir");
        let p12 = dir.path().join("k.p12");
        let jks = dir.path().join("k.jks");
        if !gen_key(&p12, "PKCS12") {
            return;
        }
        assert!(keytool(&[
            "-importkeystore",
            "-srckeystore",
            p12.to_str().unwrap_or_default(),
            "-srcstoretype",
            "PKCS12",
            "-srcstorepass",
            PW,
            "-destkeystore",
            jks.to_str().unwrap_or_default(),
            "-deststorepass",
            PW,
        ]));
        assert_usable(&load_key_store(&spec(&jks, StoreType::Jks, PW)).expect("loads"));
    }

    #[test]
    fn keytool_trust_stores_yield_their_trusted_certificates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("k.p12");
        let cert = dir.path().join("server.der");
        if !gen_key(&key, "PKCS12") {
            return;
        }
        assert!(keytool(&[
            "-exportcert",
            "-alias",
            "server",
            "-keystore",
            key.to_str().unwrap_or_default(),
            "-storepass",
            PW,
            "-file",
            cert.to_str().unwrap_or_default(),
        ]));
        let der = std::fs::read(&cert).expect("exported");
        for (name, kt_type, ty) in [
            ("t.jks", "JKS", StoreType::Jks),
            ("t.p12", "PKCS12", StoreType::Pkcs12),
        ] {
            let path = dir.path().join(name);
            assert!(keytool(&[
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-file",
                cert.to_str().unwrap_or_default(),
                "-storetype",
                kt_type,
                "-keystore",
                path.to_str().unwrap_or_default(),
                "-storepass",
                PW,
            ]));
            let certs = load_trust_store(&spec(&path, ty, PW)).expect("loads");
            assert_eq!(certs.len(), 1, "{name}");
            assert_eq!(certs[0].as_ref(), &der[..], "{name}");
        }
    }

    #[test]
    fn store_type_comes_from_the_value_or_the_file_extension() {
        assert_eq!(StoreType::parse("pkcs12"), Some(StoreType::Pkcs12));
        assert_eq!(StoreType::parse("BCFKS"), None);
        assert_eq!(
            StoreType::from_file_name(Path::new("/a/b.pem")),
            Some(StoreType::Pem)
        );
        assert_eq!(
            StoreType::from_file_name(Path::new("b.p12")),
            Some(StoreType::Pkcs12)
        );
        assert_eq!(StoreType::from_file_name(Path::new("b.pkcs12")), None);
    }
}
