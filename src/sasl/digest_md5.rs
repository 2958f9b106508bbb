//! The server side of the DIGEST-MD5 SASL mechanism (RFC 2831), as the
//! JDK's (17) `DigestMD5Server` runs it for ZooKeeper: an initial response
//! ignored, one challenge, one digest-response, then `rspauth`; quality of protection
//! `auth` only (ZooKeeper creates its server without properties, so it
//! offers no integrity or privacy layer and its challenge has no `qop`).
//!
//! A state machine over byte tokens: no I/O, no clock, no randomness (the
//! caller hands in the nonce), no password store (the caller's lookup).

use md5::{Digest as _, Md5};

/// The JDK refuses longer digest-responses.
pub const RESPONSE_BYTES_MAX: usize = 4096;

/// Why an exchange failed. The connection then fails authentication; the
/// text is for the server log (the client hears only AuthFailed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest-response of {0} bytes (at most {RESPONSE_BYTES_MAX})")]
    TooLong(usize),
    #[error("exchange already finished")]
    Finished,
    #[error("malformed digest-response: {0}")]
    Syntax(&'static str),
    #[error("directive {0} appears more than once")]
    Duplicate(String),
    #[error("missing directive {0}")]
    Missing(&'static str),
    #[error("charset {0:?} is not utf-8")]
    Charset(String),
    #[error("maxbuf {0:?} is not a number")]
    MaxBuf(String),
    #[error("realm {0:?} is not this server's")]
    Realm(String),
    #[error("nonce does not match the challenge")]
    Nonce,
    #[error("nonce-count {0:?} is not 1")]
    NonceCount(String),
    #[error("qop {0:?} is not offered (auth only)")]
    Qop(String),
    #[error("digest-uri {got:?} does not match {expected:?}")]
    DigestUri { got: String, expected: String },
    #[error("no password for user {0:?}")]
    UnknownUser(String),
    #[error("wrong response for user {0:?}")]
    WrongResponse(String),
}

/// What one client token leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge; the exchange goes on.
    Challenge(Vec<u8>),
    /// Authenticated: send `token` (the `rspauth`) and record the identity.
    Complete {
        token: Vec<u8>,
        /// The user whose password proved the response.
        authentication_id: String,
        /// `authzid` when the client sent one, else the authentication id.
        authorization_id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Initial,
    Challenged,
    Finished,
}

/// One exchange (one per connection, as ZooKeeper keeps one `SaslServer`
/// per connection: a second exchange after the first ends fails).
#[derive(Debug)]
pub struct DigestMd5Server {
    /// `<protocol>/<server name>`: what the client's `digest-uri` must be.
    digest_uri: String,
    /// The only realm offered: the server name, as the JDK does.
    realm: String,
    nonce: String,
    state: State,
}

impl DigestMd5Server {
    /// `protocol` and `server_name` as `Sasl.createSaslServer` takes them
    /// (ZooKeeper: "zookeeper", "zk-sasl-md5"). `nonce` must be fresh and
    /// unpredictable, without `"` or `\`; [`nonce_from`] makes one.
    pub fn new(protocol: &str, server_name: &str, nonce: String) -> DigestMd5Server {
        DigestMd5Server {
            digest_uri: format!("{protocol}/{server_name}"),
            realm: server_name.to_string(),
            nonce,
            state: State::Initial,
        }
    }

    /// Whether the exchange has ended (successfully or not).
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Evaluates one client token. `password` looks a user's password up.
    /// After an error the exchange is over.
    pub fn evaluate(
        &mut self,
        token: &[u8],
        password: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Step, DigestError> {
        if token.len() > RESPONSE_BYTES_MAX {
            self.state = State::Finished;
            return Err(DigestError::TooLong(token.len()));
        }
        match self.state {
            State::Initial => {
                // The JDK (17) ignores an initial response ("Ignoring initial
                // response"); older ones refused it.
                self.state = State::Challenged;
                Ok(Step::Challenge(self.challenge()))
            }
            State::Challenged => {
                self.state = State::Finished;
                self.validate(token, password)
            }
            State::Finished => Err(DigestError::Finished),
        }
    }

    fn challenge(&self) -> Vec<u8> {
        format!(
            "realm=\"{}\",nonce=\"{}\",charset=utf-8,algorithm=md5-sess",
            quote(&self.realm),
            quote(&self.nonce)
        )
        .into_bytes()
    }

    fn validate(
        &self,
        token: &[u8],
        password: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Step, DigestError> {
        let d = Directives::parse(token)?;
        if let Some(charset) = d.get("charset")
            && charset != "utf-8"
        {
            return Err(DigestError::Charset(charset));
        }
        if let Some(maxbuf) = d.get("maxbuf")
            && maxbuf.parse::<i32>().is_err()
        {
            return Err(DigestError::MaxBuf(maxbuf));
        }
        let username = d.get("username").ok_or(DigestError::Missing("username"))?;
        let realm = d.get("realm").unwrap_or_default();
        if realm != self.realm {
            return Err(DigestError::Realm(realm));
        }
        let nonce = d.raw("nonce").ok_or(DigestError::Missing("nonce"))?;
        if nonce != self.nonce.as_bytes() {
            return Err(DigestError::Nonce);
        }
        let cnonce = d.raw("cnonce").ok_or(DigestError::Missing("cnonce"))?;
        if let Some(nc) = d.get("nc")
            && u32::from_str_radix(&nc, 16) != Ok(1)
        {
            return Err(DigestError::NonceCount(nc));
        }
        let qop = d.get("qop").unwrap_or_else(|| "auth".into());
        if qop != "auth" {
            return Err(DigestError::Qop(qop));
        }
        let uri = d.get("digest-uri").unwrap_or_default();
        if !uri.eq_ignore_ascii_case(&self.digest_uri) {
            return Err(DigestError::DigestUri {
                got: uri,
                expected: self.digest_uri.clone(),
            });
        }
        let response = d.raw("response").ok_or(DigestError::Missing("response"))?;
        let authzid = d.raw("authzid");
        let password =
            password(&username).ok_or_else(|| DigestError::UnknownUser(username.clone()))?;
        let input = Inputs {
            username: &username,
            realm: &realm,
            password: &password,
            nonce: self.nonce.as_bytes(),
            cnonce,
            authzid,
            digest_uri: &uri,
        };
        if response != input.response_value(b"AUTHENTICATE").as_bytes() {
            return Err(DigestError::WrongResponse(username));
        }
        let token = format!("rspauth={}", input.response_value(b"")).into_bytes();
        let authorization_id = match authzid {
            Some(a) => String::from_utf8_lossy(a).into_owned(),
            None => username.clone(),
        };
        Ok(Step::Complete {
            token,
            authentication_id: username,
            authorization_id,
        })
    }
}

/// A nonce from 30 random bytes: 40 base64 characters, as the JDK makes it.
pub fn nonce_from(random: [u8; 30]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(random)
}

/// What the response value (RFC 2831 §2.1.2.1) is computed from.
struct Inputs<'a> {
    username: &'a str,
    realm: &'a str,
    password: &'a str,
    nonce: &'a [u8],
    cnonce: &'a [u8],
    authzid: Option<&'a [u8]>,
    digest_uri: &'a str,
}

impl Inputs<'_> {
    /// `method` is "AUTHENTICATE" for the client's response, empty for the
    /// server's `rspauth`.
    fn response_value(&self, method: &[u8]) -> String {
        let mut h = Md5::new();
        h.update(latin1_or_utf8(self.username));
        h.update(b":");
        h.update(latin1_or_utf8(self.realm));
        h.update(b":");
        h.update(latin1_or_utf8(self.password));
        let user_realm_pass = h.finalize();

        let mut h = Md5::new();
        h.update(user_realm_pass);
        h.update(b":");
        h.update(self.nonce);
        h.update(b":");
        h.update(self.cnonce);
        if let Some(authzid) = self.authzid {
            h.update(b":");
            h.update(authzid);
        }
        let a1 = hex(&h.finalize());

        let mut h = Md5::new();
        h.update(method);
        h.update(b":");
        h.update(self.digest_uri.as_bytes());
        let a2 = hex(&h.finalize());

        let mut h = Md5::new();
        h.update(a1.as_bytes());
        h.update(b":");
        h.update(self.nonce);
        h.update(b":00000001:");
        h.update(self.cnonce);
        h.update(b":auth:");
        h.update(a2.as_bytes());
        hex(&h.finalize())
    }
}

/// RFC 2831 §2.1.2.1: with charset=utf-8, a string whose characters all fit
/// ISO 8859-1 is hashed in ISO 8859-1, any other in UTF-8.
fn latin1_or_utf8(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) <= 0xff) {
        s.chars().map(|c| c as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Escapes `"` and `\` for a quoted-string value.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The directives of a digest-response: `name=value` or `name="value"`,
/// separated by commas, with optional whitespace. Names are
/// case-insensitive; a known directive may appear once.
struct Directives {
    entries: Vec<(String, Vec<u8>)>,
}

const KNOWN: &[&str] = &[
    "username",
    "realm",
    "nonce",
    "cnonce",
    "nc",
    "qop",
    "digest-uri",
    "response",
    "maxbuf",
    "charset",
    "cipher",
    "authzid",
];

impl Directives {
    fn parse(token: &[u8]) -> Result<Directives, DigestError> {
        let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
        let mut i = 0;
        let skip_ws = |i: &mut usize| {
            while *i < token.len() && matches!(token[*i], b' ' | b'\t' | b'\r' | b'\n') {
                *i += 1;
            }
        };
        loop {
            skip_ws(&mut i);
            while i < token.len() && token[i] == b',' {
                i += 1;
                skip_ws(&mut i);
            }
            if i == token.len() {
                break;
            }
            let start = i;
            while i < token.len() && !matches!(token[i], b'=' | b',' | b' ' | b'\t') {
                i += 1;
            }
            let name = String::from_utf8_lossy(&token[start..i]).to_ascii_lowercase();
            if name.is_empty() {
                return Err(DigestError::Syntax("empty directive name"));
            }
            skip_ws(&mut i);
            if i == token.len() || token[i] != b'=' {
                return Err(DigestError::Syntax("directive without a value"));
            }
            i += 1;
            skip_ws(&mut i);
            let mut value = Vec::new();
            if i < token.len() && token[i] == b'"' {
                i += 1;
                loop {
                    match token.get(i) {
                        None => return Err(DigestError::Syntax("unterminated quoted value")),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let escaped = token
                                .get(i + 1)
                                .ok_or(DigestError::Syntax("unterminated quoted value"))?;
                            value.push(*escaped);
                            i += 2;
                        }
                        Some(b) => {
                            value.push(*b);
                            i += 1;
                        }
                    }
                }
            } else {
                while i < token.len() && token[i] != b',' {
                    value.push(token[i]);
                    i += 1;
                }
                while value.last().is_some_and(|b| b.is_ascii_whitespace()) {
                    value.pop();
                }
            }
            skip_ws(&mut i);
            if i < token.len() && token[i] != b',' {
                return Err(DigestError::Syntax("text after a quoted value"));
            }
            if KNOWN.contains(&name.as_str()) && entries.iter().any(|(n, _)| *n == name) {
                return Err(DigestError::Duplicate(name));
            }
            entries.push((name, value));
        }
        Ok(Directives { entries })
    }

    fn raw(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The value decoded as UTF-8 (invalid sequences replaced, as Java does).
    fn get(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2831 §4, the IMAP example: user chris, password secret.
    fn rfc_server() -> DigestMd5Server {
        DigestMd5Server::new("imap", "elwood.innosoft.com", "OA6MG9tEQGm2hh".into())
    }

    const RFC_RESPONSE: &[u8] = b"charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\",\
nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",\
digest-uri=\"imap/elwood.innosoft.com\",response=d388dad90d4bbd760a152321f2143af7,qop=auth";

    fn chris(user: &str) -> Option<String> {
        (user == "chris").then(|| "secret".to_string())
    }

    #[test]
    fn rfc2831_example_authenticates_and_answers_the_rfc_rspauth() {
        let mut s = rfc_server();
        let Ok(Step::Challenge(challenge)) = s.evaluate(b"", chris) else {
            panic!("expected a challenge");
        };
        assert_eq!(
            challenge,
            b"realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",charset=utf-8,algorithm=md5-sess"
        );
        let step = s.evaluate(RFC_RESPONSE, chris).expect("authenticates");
        assert_eq!(
            step,
            Step::Complete {
                token: b"rspauth=ea40f60335c427b5527b84dbabcdfffd".to_vec(),
                authentication_id: "chris".into(),
                authorization_id: "chris".into(),
            }
        );
        assert!(s.is_finished());
        assert_eq!(s.evaluate(b"", chris), Err(DigestError::Finished));
    }

    #[test]
    fn wrong_password_is_refused() {
        let mut s = rfc_server();
        s.evaluate(b"", chris).expect("challenge");
        let err = s
            .evaluate(RFC_RESPONSE, |_| Some("not-secret".into()))
            .unwrap_err();
        assert_eq!(err, DigestError::WrongResponse("chris".into()));
        assert!(s.is_finished());
    }

    #[test]
    fn unknown_user_is_refused() {
        let mut s = rfc_server();
        s.evaluate(b"", chris).expect("challenge");
        assert_eq!(
            s.evaluate(RFC_RESPONSE, |_| None),
            Err(DigestError::UnknownUser("chris".into()))
        );
    }

    #[test]
    fn initial_response_is_ignored_as_the_jdk_does() {
        let mut s = rfc_server();
        assert!(matches!(s.evaluate(b"x", chris), Ok(Step::Challenge(_))));
        assert!(matches!(
            s.evaluate(RFC_RESPONSE, chris),
            Ok(Step::Complete { .. })
        ));
    }

    fn replaced(from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(RFC_RESPONSE.to_vec())
            .unwrap()
            .replace(from, to)
            .into_bytes()
    }

    #[test]
    fn response_checks_follow_the_jdk() {
        let cases: &[(&str, &str, DigestError)] = &[
            (
                "nonce=\"OA6MG9tEQGm2hh\"",
                "nonce=\"other\"",
                DigestError::Nonce,
            ),
            (
                "realm=\"elwood.innosoft.com\"",
                "realm=\"x\"",
                DigestError::Realm("x".into()),
            ),
            (
                "nc=00000001",
                "nc=00000002",
                DigestError::NonceCount("00000002".into()),
            ),
            (
                "qop=auth",
                "qop=auth-int",
                DigestError::Qop("auth-int".into()),
            ),
            (
                "imap/elwood",
                "ldap/elwood",
                DigestError::DigestUri {
                    got: "ldap/elwood.innosoft.com".into(),
                    expected: "imap/elwood.innosoft.com".into(),
                },
            ),
            (
                "charset=utf-8",
                "charset=latin1",
                DigestError::Charset("latin1".into()),
            ),
            ("username=\"chris\",", "", DigestError::Missing("username")),
            (
                "username=\"chris\"",
                "username=\"chris\",username=\"chris\"",
                DigestError::Duplicate("username".into()),
            ),
            (
                "response=d388",
                "response=e388",
                DigestError::WrongResponse("chris".into()),
            ),
        ];
        for (from, to, want) in cases {
            let mut s = rfc_server();
            s.evaluate(b"", chris).expect("challenge");
            assert_eq!(
                s.evaluate(&replaced(from, to), chris).as_ref(),
                Err(want),
                "{to}"
            );
        }
    }

    #[test]
    fn missing_realm_and_qop_default_as_in_the_jdk() {
        // No realm means the empty realm, which this server does not offer.
        let mut s = rfc_server();
        s.evaluate(b"", chris).expect("challenge");
        let no_realm = replaced("realm=\"elwood.innosoft.com\",", "");
        assert_eq!(
            s.evaluate(&no_realm, chris),
            Err(DigestError::Realm(String::new()))
        );
        // No qop means auth.
        let mut s = rfc_server();
        s.evaluate(b"", chris).expect("challenge");
        let no_qop = replaced(",qop=auth", "");
        assert!(matches!(
            s.evaluate(&no_qop, chris),
            Ok(Step::Complete { .. })
        ));
    }

    /// A client's response computed independently (the arithmetic of RFC
    /// 2831 written out with an authzid), quoted values with escapes and
    /// spaces: the server accepts it and names the authzid.
    #[test]
    fn authzid_enters_a1_and_becomes_the_authorization_id() {
        let mut s = DigestMd5Server::new("zookeeper", "zk-sasl-md5", "n\"once".into());
        s.evaluate(b"", |_| None).expect("challenge");
        let h = |parts: &[&[u8]]| {
            let mut m = Md5::new();
            for p in parts {
                m.update(p);
            }
            m.finalize()
        };
        let urp = h(&[b"bob:zk-sasl-md5:pw"]);
        let a1 = hex(&h(&[&urp, b":n\"once:cn:admin"]));
        let a2 = hex(&h(&[b"AUTHENTICATE:zookeeper/zk-sasl-md5"]));
        let resp = hex(&h(&[
            a1.as_bytes(),
            b":n\"once:00000001:cn:auth:",
            a2.as_bytes(),
        ]));
        let token = format!(
            "username=\"bob\", realm=\"zk-sasl-md5\", nonce=\"n\\\"once\", cnonce=\"cn\", \
             nc=00000001, qop=auth, digest-uri=\"zookeeper/zk-sasl-md5\", \
             response={resp}, authzid=\"admin\", charset=\"utf-8\""
        );
        let step = s
            .evaluate(token.as_bytes(), |u| (u == "bob").then(|| "pw".into()))
            .expect("authenticates");
        let Step::Complete {
            authentication_id,
            authorization_id,
            ..
        } = step
        else {
            panic!("expected completion");
        };
        assert_eq!(authentication_id, "bob");
        assert_eq!(authorization_id, "admin");
    }

    /// A recorded exchange of pure-sasl 0.6.2 (kazoo's SASL client), its cnonce pinned: the
    /// server's nonce from bytes 0..30, the client's response, and the rspauth pure-sasl
    /// expects back.
    #[test]
    fn pure_sasl_exchange_authenticates_with_the_rspauth_it_expects() {
        let nonce = nonce_from(std::array::from_fn(|i| i as u8));
        assert_eq!(nonce, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd");
        let mut s = DigestMd5Server::new("zookeeper", "zk-sasl-md5", nonce);
        let users = |u: &str| (u == "jaasuser").then(|| "jaas_password".to_string());
        let Ok(Step::Challenge(challenge)) = s.evaluate(b"", users) else {
            panic!("expected a challenge");
        };
        assert_eq!(
            challenge,
            b"realm=\"zk-sasl-md5\",nonce=\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\",\
charset=utf-8,algorithm=md5-sess"
        );
        let response = b"qop=auth,realm=\"zk-sasl-md5\",username=\"jaasuser\",\
nonce=\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\",cnonce=\"123456789\",nc=00000001,\
digest-uri=\"zookeeper/zk-sasl-md5\",response=1dcc1467537704d2d04ea05847c7b37f";
        assert_eq!(
            s.evaluate(response, users),
            Ok(Step::Complete {
                token: b"rspauth=f145790e105c817343e22902b8bfe0b8".to_vec(),
                authentication_id: "jaasuser".into(),
                authorization_id: "jaasuser".into(),
            })
        );
    }

    #[test]
    fn nonce_is_forty_base64_characters() {
        let n = nonce_from([0xfb; 30]);
        assert_eq!(n.len(), 40);
        assert!(!n.contains(['"', '\\']));
    }

    #[test]
    fn latin1_strings_hash_as_latin1_others_as_utf8() {
        assert_eq!(latin1_or_utf8("é"), vec![0xe9]);
        assert_eq!(latin1_or_utf8("€"), "€".as_bytes().to_vec());
    }
}
