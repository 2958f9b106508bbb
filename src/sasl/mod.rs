//! SASL authentication of client connections, as ZooKeeper's server does it
//! (`ZooKeeperSaslServer`, `SaslServerCallbackHandler`): DIGEST-MD5 with
//! protocol "zookeeper" and server name (realm) "zk-sasl-md5", users and
//! passwords from the JAAS `Server` section (see `config::jaas`).
//!
//! Sans-I/O: the connection (`server::conn`) feeds it the tokens of opcode
//! 102 with fresh random bytes and a password lookup, and turns the outcome
//! into a reply, an auth id `sasl:<user>` or a closed connection. GSSAPI
//! (Kerberos) is not implemented.

pub mod digest_md5;

pub use digest_md5::{DigestError, DigestMd5Server};

/// The protocol (service) name of ZooKeeper's SASL server.
pub const PROTOCOL: &str = "zookeeper";
/// The server name ZooKeeper gives its DIGEST-MD5 server: also its realm,
/// and the host part of the digest-uri clients must send.
pub const SERVER_NAME: &str = "zk-sasl-md5";

/// What one client token leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answer with this token; more will follow.
    Continue(Vec<u8>),
    /// Answer with this token; the connection is now `sasl:<id>`.
    Authenticated { token: Vec<u8>, id: String },
}

/// One connection's SASL exchange.
#[derive(Debug)]
pub struct Exchange {
    mech: DigestMd5Server,
}

impl Exchange {
    /// `random`: 30 bytes from a CSPRNG, for the nonce.
    pub fn new(random: [u8; 30]) -> Exchange {
        Exchange {
            mech: DigestMd5Server::new(PROTOCOL, SERVER_NAME, digest_md5::nonce_from(random)),
        }
    }

    /// Evaluates one client token against `password` (user → password).
    pub fn evaluate(
        &mut self,
        token: &[u8],
        password: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Outcome, DigestError> {
        Ok(match self.mech.evaluate(token, password)? {
            digest_md5::Step::Challenge(token) => Outcome::Continue(token),
            // ZooKeeper's callback handler authorizes every authenticated
            // user and names the connection after the authentication id
            // (Kerberos-style canonicalized, which leaves a DIGEST-MD5 user
            // name as it is), whatever authzid the client asked for.
            digest_md5::Step::Complete {
                token,
                authentication_id,
                ..
            } => Outcome::Authenticated {
                token,
                id: authentication_id,
            },
        })
    }
}

/// `SASLAuthenticationProvider.matches`: an ACL id `sasl:<expr>` grants to a
/// connection authenticated as `id` when they are equal or `id` is "super".
pub fn acl_matches(id: &str, expr: &str) -> bool {
    id == "super" || id == expr
}
