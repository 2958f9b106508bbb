//! The option parsing zkCli's commands get from Apache commons-cli's
//! `DefaultParser`: single-letter options that may be bundled (`-sw`), an
//! option's value attached (`-v3`) or in the next word (`-v 3`), arguments and
//! options in any order, `--` ending the options. Errors carry the text zkCli
//! prints for them (the exception's `toString()`).
//!
//! Pure: words in, [`Parsed`] or an error message out. `commands` calls it
//! with each command's option table.

/// One option of a command: its letter and whether it takes a value.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    pub name: char,
    pub takes_value: bool,
}

pub const fn flag(name: char) -> Opt {
    Opt {
        name,
        takes_value: false,
    }
}

pub const fn valued(name: char) -> Opt {
    Opt {
        name,
        takes_value: true,
    }
}

/// The options found (in order, with their values) and the other words.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    opts: Vec<(char, Option<String>)>,
    /// The words that are not options; the command's name is the first.
    pub args: Vec<String>,
}

impl Parsed {
    pub fn has(&self, name: char) -> bool {
        self.opts.iter().any(|(n, _)| *n == name)
    }

    /// The first value given to `name`, as commons-cli's `getOptionValue`.
    pub fn value(&self, name: char) -> Option<&str> {
        self.opts
            .iter()
            .find(|(n, v)| *n == name && v.is_some())
            .and_then(|(_, v)| v.as_deref())
    }
}

const UNRECOGNIZED: &str =
    "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: ";
const MISSING: &str =
    "org.apache.commons.cli.MissingArgumentException: Missing argument for option: ";

struct State<'a> {
    table: &'a [Opt],
    parsed: Parsed,
    /// An option that takes a value and has none yet.
    waiting: Option<usize>,
    rest_are_args: bool,
}

impl State<'_> {
    fn find(&self, name: &str) -> Option<Opt> {
        let mut chars = name.chars();
        let c = chars.next()?;
        if chars.next().is_some() {
            return None;
        }
        self.table.iter().copied().find(|o| o.name == c)
    }

    /// `DefaultParser.checkRequiredArgs`: a new option while the last one still needs its value.
    fn check_waiting(&self) -> Result<(), String> {
        match self.waiting {
            Some(i) => Err(format!("{MISSING}{}", self.parsed.opts[i].0)),
            None => Ok(()),
        }
    }

    fn open(&mut self, opt: Opt) -> Result<(), String> {
        self.check_waiting()?;
        self.parsed.opts.push((opt.name, None));
        if opt.takes_value {
            self.waiting = Some(self.parsed.opts.len() - 1);
        }
        Ok(())
    }

    fn give_value(&mut self, value: &str) {
        if let Some(i) = self.waiting.take() {
            self.parsed.opts[i].1 = Some(value.to_string());
        }
    }

    fn unknown(&mut self, word: &str) -> Result<(), String> {
        if word.starts_with('-') && word.len() > 1 {
            return Err(format!("{UNRECOGNIZED}{word}"));
        }
        self.parsed.args.push(word.to_string());
        Ok(())
    }

    /// `DefaultParser.isArgument`: a word that can be an option's value.
    fn is_value(&self, word: &str) -> bool {
        if !word.starts_with('-') || word.len() == 1 {
            return true;
        }
        if word.parse::<f64>().is_ok() {
            return true;
        }
        let name = word[1..].split('=').next().unwrap_or("");
        let first = name.chars().next().map(String::from).unwrap_or_default();
        self.find(name).is_none() && self.find(&first).is_none() && !word.starts_with("--")
    }

    fn word(&mut self, word: &str) -> Result<(), String> {
        if self.rest_are_args {
            self.parsed.args.push(word.to_string());
        } else if word == "--" {
            self.rest_are_args = true;
        } else if self.waiting.is_some() && self.is_value(word) {
            self.give_value(word);
        } else if word.starts_with("--") {
            // No command has long options.
            self.unknown(word)?;
        } else if word.starts_with('-') && word != "-" {
            self.short(word)?;
        } else {
            self.unknown(word)?;
        }
        Ok(())
    }

    /// `DefaultParser.handleShortAndLongOption` for tables of one-letter options.
    fn short(&mut self, word: &str) -> Result<(), String> {
        let t = &word[1..];
        if let Some(opt) = self.find(t) {
            return self.open(opt);
        }
        if t.contains('=') {
            let (name, value) = t.split_once('=').unwrap_or((t, ""));
            return match self.find(name) {
                Some(opt) if opt.takes_value => {
                    self.open(opt)?;
                    self.give_value(value);
                    Ok(())
                }
                _ => self.unknown(word),
            };
        }
        let first = t.chars().next().map(String::from).unwrap_or_default();
        if let Some(opt) = self.find(&first).filter(|o| o.takes_value) {
            self.open(opt)?;
            self.give_value(&t[first.len()..]);
            return Ok(());
        }
        self.bundled(word)
    }

    /// `DefaultParser.handleConcatenatedOptions`: `-sw`, or `-sv3`.
    fn bundled(&mut self, word: &str) -> Result<(), String> {
        for (i, c) in word.char_indices().skip(1) {
            let Some(opt) = self.find(&c.to_string()) else {
                return self.unknown(word);
            };
            self.open(opt)?;
            let rest = &word[i + c.len_utf8()..];
            if opt.takes_value && !rest.is_empty() {
                self.give_value(rest);
                break;
            }
        }
        Ok(())
    }
}

/// Parses a command's words (its name first) against its option table.
pub fn parse(table: &[Opt], words: &[String]) -> Result<Parsed, String> {
    let mut st = State {
        table,
        parsed: Parsed::default(),
        waiting: None,
        rest_are_args: false,
    };
    for w in words {
        st.word(w)?;
        if let Some(i) = st.waiting {
            let name = st.parsed.opts[i].0;
            if !table.iter().any(|o| o.name == name && o.takes_value) {
                st.waiting = None;
            }
        }
    }
    st.check_waiting()?;
    Ok(st.parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    const SET: &[Opt] = &[flag('s'), valued('v')];

    #[test]
    fn options_bundle_attach_and_mix_with_arguments() {
        let p = parse(SET, &words("set /a -sv3 x")).unwrap();
        assert!(p.has('s'));
        assert_eq!(p.value('v'), Some("3"));
        assert_eq!(p.args, words("set /a x"));
        let p = parse(SET, &words("set -v -1 /a x")).unwrap();
        assert_eq!(p.value('v'), Some("-1"));
        assert_eq!(p.args, words("set /a x"));
    }

    #[test]
    fn unknown_and_missing_options_read_as_commons_cli_prints_them() {
        assert_eq!(
            parse(SET, &words("set -x /a b")).unwrap_err(),
            format!("{UNRECOGNIZED}-x")
        );
        assert_eq!(
            parse(SET, &words("set /a b -v")).unwrap_err(),
            format!("{MISSING}v")
        );
        assert_eq!(
            parse(SET, &words("set -v -s /a b")).unwrap_err(),
            format!("{MISSING}v")
        );
        assert_eq!(
            parse(SET, &words("set /a -1")).unwrap_err(),
            format!("{UNRECOGNIZED}-1")
        );
        assert_eq!(
            parse(SET, &words("set --foo /a")).unwrap_err(),
            format!("{UNRECOGNIZED}--foo")
        );
    }

    #[test]
    fn double_dash_ends_the_options() {
        let p = parse(SET, &words("set -- -s x")).unwrap();
        assert!(!p.has('s'));
        assert_eq!(p.args, words("set -s x"));
    }
}
