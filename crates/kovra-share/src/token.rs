//! The one-time access token: 160 random bits in base32, grouped for reading aloud. It is the
//! passphrase of the package's inner age layer, so a stock `age` accepts it as typed.

use zeroize::Zeroizing;

const BYTES: usize = 20;
const GROUP: usize = 4;

/// A token in its canonical form (`XXXX-XXXX-…`, 8 groups).
pub struct Token(Zeroizing<String>);

impl Token {
    pub fn generate() -> Token {
        let mut raw = Zeroizing::new([0u8; BYTES]);
        // getrandom failing means no entropy source: nothing can be sealed safely.
        if getrandom::fill(raw.as_mut_slice()).is_err() {
            std::process::abort();
        }
        let text = Zeroizing::new(data_encoding::BASE32_NOPAD.encode(raw.as_slice()));
        Token(group(&text))
    }

    /// Accept what a person typed: spaces, dashes and case are forgiven.
    pub fn parse(typed: &[u8]) -> Option<Token> {
        let cleaned: Zeroizing<String> = Zeroizing::new(
            typed
                .iter()
                .filter(|b| !b.is_ascii_whitespace() && **b != b'-')
                .map(|b| (*b as char).to_ascii_uppercase())
                .collect(),
        );
        let decoded = Zeroizing::new(
            data_encoding::BASE32_NOPAD
                .decode(cleaned.as_bytes())
                .ok()?,
        );
        (decoded.len() == BYTES).then(|| Token(group(&cleaned)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn group(text: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(text.len() + text.len() / GROUP));
    for (i, c) in text.chars().enumerate() {
        if i > 0 && i % GROUP == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_forms_parse_to_the_canonical_token() {
        let t = Token::generate();
        assert_eq!(t.expose().len(), 39);
        let sloppy = t.expose().to_ascii_lowercase().replace('-', " ");
        assert_eq!(
            Token::parse(sloppy.as_bytes()).unwrap().expose(),
            t.expose()
        );
        assert!(Token::parse(b"ABCD-EFGH").is_none());
        assert!(Token::parse(b"not a token at all, 0189!").is_none());
    }
}
