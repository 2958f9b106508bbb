//! The JAAS login configuration file (the JDK's `ConfigFile` syntax) that
//! ZooKeeper reads its SASL users from:
//!
//! ```text
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_super="adminsecret"
//!     user_bob="bobsecret";
//! };
//! ```
//!
//! Sections of login modules with a flag and `key=value` options; `//`,
//! `/* */` and `#` comments. Parsing only: which section and options mean
//! what is `super::load`'s business.

/// One login module line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub class: String,
    pub flag: String,
    pub options: Vec<(String, String)>,
}

/// One named section (`Server { ... };`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub modules: Vec<Module>,
}

/// Why a JAAS file does not parse: the line and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct JaasError {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Punct(char),
}

const FLAGS: &[&str] = &["required", "requisite", "sufficient", "optional"];

/// Parses a whole file. Section names must be unique.
pub fn parse(text: &str) -> Result<Vec<Section>, JaasError> {
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens, at: 0 };
    let mut sections: Vec<Section> = Vec::new();
    while let Some((line, tok)) = p.next() {
        let Token::Word(name) = tok else {
            return Err(p.error_at(line, "expected a section name"));
        };
        p.expect('{')?;
        let mut modules = Vec::new();
        loop {
            match p.next() {
                Some((_, Token::Punct('}'))) => break,
                Some((_, Token::Word(class))) => modules.push(p.module(class)?),
                Some((line, _)) => return Err(p.error_at(line, "expected a login module class")),
                None => return Err(p.eof(format!("section {name} is not closed with `}};`"))),
            }
        }
        p.expect(';')?;
        if sections.iter().any(|s| s.name == name) {
            return Err(p.error_at(line, &format!("section {name} appears twice")));
        }
        sections.push(Section { name, modules });
    }
    Ok(sections)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<(usize, Token)> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn last_line(&self) -> usize {
        self.tokens.last().map_or(1, |(l, _)| *l)
    }

    fn error_at(&self, line: usize, reason: &str) -> JaasError {
        JaasError {
            line,
            reason: reason.to_string(),
        }
    }

    fn eof(&self, reason: String) -> JaasError {
        JaasError {
            line: self.last_line(),
            reason: format!("unexpected end of file: {reason}"),
        }
    }

    fn expect(&mut self, c: char) -> Result<(), JaasError> {
        match self.next() {
            Some((_, Token::Punct(p))) if p == c => Ok(()),
            Some((line, _)) => Err(self.error_at(line, &format!("expected `{c}`"))),
            None => Err(self.eof(format!("expected `{c}`"))),
        }
    }

    /// `class flag key=value ... ;` after the class.
    fn module(&mut self, class: String) -> Result<Module, JaasError> {
        let flag = match self.next() {
            Some((_, Token::Word(f))) if FLAGS.iter().any(|k| f.eq_ignore_ascii_case(k)) => {
                f.to_ascii_lowercase()
            }
            Some((line, _)) => {
                return Err(self.error_at(
                    line,
                    &format!(
                        "{class}: expected a flag (required, requisite, sufficient, optional)"
                    ),
                ));
            }
            None => return Err(self.eof(format!("{class}: expected a flag"))),
        };
        let mut options = Vec::new();
        loop {
            match self.next() {
                Some((_, Token::Punct(';'))) => break,
                Some((_, Token::Word(key))) => {
                    self.expect('=')?;
                    let value = match self.next() {
                        Some((_, Token::Word(v) | Token::Quoted(v))) => v,
                        Some((line, _)) => {
                            return Err(self.error_at(line, &format!("{key}: expected a value")));
                        }
                        None => return Err(self.eof(format!("{key}: expected a value"))),
                    };
                    options.push((key, value));
                }
                Some((line, _)) => {
                    return Err(self.error_at(line, &format!("{class}: expected key=value or `;`")));
                }
                None => return Err(self.eof(format!("{class}: expected `;`"))),
            }
        }
        Ok(Module {
            class,
            flag,
            options,
        })
    }
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, JaasError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let start_line = line;
                i += 2;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(JaasError {
                                line: start_line,
                                reason: "comment is not closed with */".into(),
                            });
                        }
                        Some('*') if chars.get(i + 1) == Some(&'/') => {
                            i += 2;
                            break;
                        }
                        Some(ch) => {
                            if *ch == '\n' {
                                line += 1;
                            }
                            i += 1;
                        }
                    }
                }
            }
            '{' | '}' | ';' | '=' => {
                out.push((line, Token::Punct(c)));
                i += 1;
            }
            '"' => {
                let start_line = line;
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(JaasError {
                                line: start_line,
                                reason: "quoted value is not closed".into(),
                            });
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            let escaped = chars.get(i + 1).copied().ok_or(JaasError {
                                line,
                                reason: "quoted value is not closed".into(),
                            })?;
                            value.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            });
                            i += 2;
                        }
                        Some(ch) => {
                            if *ch == '\n' {
                                line += 1;
                            }
                            value.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push((start_line, Token::Quoted(value)));
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.get(i) {
                    if ch.is_whitespace() || matches!(ch, '{' | '}' | ';' | '=' | '"') {
                        break;
                    }
                    word.push(ch);
                    i += 1;
                }
                out.push((line, Token::Word(word)));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zookeepers_server_and_client_sections() {
        let text = r#"
// users for DIGEST-MD5
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password"; /* two users */
};
# the client side
Client {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  username=bob password="a \"quoted\" one";
};"#;
        let s = parse(text).expect("parses");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "Server");
        assert_eq!(
            s[0].modules,
            vec![Module {
                class: "org.apache.zookeeper.server.auth.DigestLoginModule".into(),
                flag: "required".into(),
                options: vec![
                    ("user_super".into(), "super_secret".into()),
                    ("user_jaasuser".into(), "jaas_password".into()),
                ],
            }]
        );
        assert_eq!(
            s[1].modules[0].options,
            vec![
                ("username".into(), "bob".into()),
                ("password".into(), "a \"quoted\" one".into())
            ]
        );
    }

    #[test]
    fn empty_file_has_no_sections() {
        assert_eq!(parse(" \n// nothing\n"), Ok(vec![]));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("Server {\n  a.B required\n  user_x=\"y\"\n};\n", Some(4)),
            ("Server {\n  a.B mandatory;\n};", Some(2)),
            ("Server {\n  a.B required user_x=;\n};", Some(2)),
            ("Server {\n  a.B required user_x=\"y\";\n}", Some(3)),
            ("Server {\n  a.B required user_x=\"y\n};", Some(2)),
            (
                "Server { a.B required; };\nServer { a.B required; };",
                Some(2),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).err().map(|e| e.line), want, "{text}");
        }
    }
}
