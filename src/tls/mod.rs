//! TLS for the secure client port (`secureClientPort`): the settings
//! ZooKeeper reads from its `ssl.*` keys, the key and trust stores they name,
//! the rustls server configuration built from them, and the `x509` id of a
//! client that presented a certificate.
//!
//! Owns no sockets and no connections: `server::shard` accepts, wraps the
//! stream with the [`ServerTls`] acceptor and hands it to `server::conn`,
//! which serves it like a plain one. `config` builds [`TlsSettings`] and
//! calls [`ServerTls::new`] once to refuse bad stores at start.

mod der;
pub(crate) mod jks;
mod store;
mod verify;
mod x500;

use std::sync::Arc;

pub use store::{StoreError, StoreField, StoreSettings, StoreType};
pub use verify::ClientVerifier;
pub use x500::subject_rfc2253;

/// `ssl.clientAuth`: ZooKeeper's default is `need`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    None,
    Want,
    #[default]
    Need,
}

impl ClientAuth {
    pub fn parse(value: &str) -> Option<ClientAuth> {
        match value.to_ascii_lowercase().as_str() {
            "" | "need" => Some(ClientAuth::Need),
            "want" => Some(ClientAuth::Want),
            "none" => Some(ClientAuth::None),
            _ => None,
        }
    }
}

/// A TLS version rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// A Java protocol name; `None` for ones rustls does not offer (TLSv1, TLSv1.1).
    pub fn from_java_name(name: &str) -> Option<TlsVersion> {
        match name.trim() {
            "TLSv1.2" => Some(TlsVersion::Tls12),
            "TLSv1.3" => Some(TlsVersion::Tls13),
            _ => None,
        }
    }
}

/// Everything the secure port needs, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub key_store: StoreSettings,
    pub trust_store: Option<StoreSettings>,
    pub client_auth: ClientAuth,
    /// Enabled versions; never empty.
    pub versions: Vec<TlsVersion>,
    /// `ssl.ciphersuites` as IANA/Java names; empty = rustls's defaults.
    pub cipher_suites: Vec<String>,
}

/// Why the TLS settings cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("ssl.keyStore: {0}")]
    KeyStore(StoreError),
    #[error("ssl.trustStore: {0}")]
    TrustStore(StoreError),
    #[error("ssl.ciphersuites: none of {0:?} is a cipher suite corral offers")]
    NoCipherSuite(Vec<String>),
    #[error("ssl.keyStore: the key and certificate do not make a usable server identity: {0}")]
    Identity(rustls::Error),
    #[error("ssl.trustStore: cannot verify client certificates with it: {0}")]
    Verifier(String),
    #[error("ssl.clientAuth={0:?} needs ssl.trustStore.location to verify client certificates")]
    NoTrustStore(ClientAuth),
}

/// The rustls server side of the secure port, shared by every shard.
#[derive(Clone)]
pub struct ServerTls {
    pub config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

/// A Java/IANA suite name in rustls's spelling (`TLS_AES_128_GCM_SHA256` is
/// rustls's `TLS13_AES_128_GCM_SHA256`).
fn same_suite(java: &str, rustls_name: &str) -> bool {
    let java = java.trim();
    java == rustls_name
        || rustls_name
            .strip_prefix("TLS13_")
            .is_some_and(|r| java == format!("TLS_{r}"))
}

impl ServerTls {
    /// Loads the stores and builds the server configuration.
    pub fn new(s: &TlsSettings) -> Result<ServerTls, TlsError> {
        let mut provider = rustls::crypto::ring::default_provider();
        if !s.cipher_suites.is_empty() {
            provider.cipher_suites.retain(|suite| {
                let name = suite.suite().as_str().unwrap_or("");
                s.cipher_suites.iter().any(|want| same_suite(want, name))
            });
            if provider.cipher_suites.is_empty() {
                return Err(TlsError::NoCipherSuite(s.cipher_suites.clone()));
            }
        }
        let provider = Arc::new(provider);
        let key_provider = provider.key_provider;
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = s
            .versions
            .iter()
            .map(|v| match v {
                TlsVersion::Tls12 => &rustls::version::TLS12,
                TlsVersion::Tls13 => &rustls::version::TLS13,
            })
            .collect();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
        let key = store::load_key_store(&s.key_store).map_err(TlsError::KeyStore)?;
        let anchors = match &s.trust_store {
            Some(t) => Some(store::load_trust_store(t).map_err(TlsError::TrustStore)?),
            None => None,
        };
        let builder = match (s.client_auth, anchors) {
            (ClientAuth::None, _) => builder.with_no_client_auth(),
            (auth, None) => return Err(TlsError::NoTrustStore(auth)),
            (auth, Some(anchors)) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in &anchors {
                    roots
                        .add(cert.clone())
                        .map_err(|e| TlsError::Verifier(e.to_string()))?;
                }
                let mut vb = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                );
                if auth == ClientAuth::Want {
                    vb = vb.allow_unauthenticated();
                }
                let inner = vb.build().map_err(|e| TlsError::Verifier(e.to_string()))?;
                builder.with_client_cert_verifier(Arc::new(verify::ClientVerifier::new(
                    inner, anchors,
                )))
            }
        };
        // Not `with_single_cert`: it parses the leaf with webpki, which
        // refuses X.509 v1 certificates that Java serves without complaint
        // (`openssl x509 -req` makes v1 by default).
        let signing_key = key_provider
            .load_private_key(key.key)
            .map_err(TlsError::Identity)?;
        let certified = rustls::sign::CertifiedKey::new(key.chain, signing_key);
        let config =
            builder.with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }
}
