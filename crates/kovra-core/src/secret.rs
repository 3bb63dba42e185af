//! The core's secret types. Each wipes its bytes on drop, never prints them (`Debug` is
//! redacted, there is no `Display`), and compares in constant time, so neither a log line
//! nor a timing tells anything about the content. Reading the content is always the
//! explicit `expose()`.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Secret bytes: a value, a seed, a plaintext.
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The content. Every read is spelled out, so it can be found.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Hand the bytes to code that still takes `Zeroizing<Vec<u8>>` (wiped all the same).
    pub fn into_zeroizing(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<Zeroizing<Vec<u8>>> for SecretBytes {
    fn from(bytes: Zeroizing<Vec<u8>>) -> Self {
        SecretBytes(bytes)
    }
}

impl From<SecretBytes> for Zeroizing<Vec<u8>> {
    fn from(s: SecretBytes) -> Self {
        s.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.expose(), other.expose())
    }
}

impl Eq for SecretBytes {}

/// Secret text: a value that must be UTF-8 (an environment variable, a code).
#[derive(Clone, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(text: String) -> Self {
        SecretString(Zeroizing::new(text))
    }

    /// The content. Every read is spelled out, so it can be found.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Hand the text to code that still takes `Zeroizing<String>` (wiped all the same).
    pub fn into_zeroizing(self) -> Zeroizing<String> {
        self.0
    }
}

impl From<String> for SecretString {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl From<Zeroizing<String>> for SecretString {
    fn from(text: Zeroizing<String>) -> Self {
        SecretString(text)
    }
}

impl TryFrom<SecretBytes> for SecretString {
    type Error = SecretBytes;

    /// UTF-8 bytes become text without a second copy; others come back unchanged.
    fn try_from(mut bytes: SecretBytes) -> Result<Self, SecretBytes> {
        if std::str::from_utf8(bytes.expose()).is_err() {
            return Err(bytes);
        }
        let vec = std::mem::take(&mut *bytes.0);
        match String::from_utf8(vec) {
            Ok(text) => Ok(SecretString::new(text)),
            // Checked above; the bytes go back wrapped again either way.
            Err(e) => Err(SecretBytes::new(e.into_bytes())),
        }
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.expose().as_bytes(), other.expose().as_bytes())
    }
}

impl Eq for SecretString {}

/// Stored secret text (a seed in a settings record) goes into the sealed JSON as a string
/// and comes out straight into a `SecretString`: the parsed `String` is moved, not copied.
impl serde::Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }
}

/// Constant-time equality: the time depends on the lengths only, never on where the
/// contents first differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_content() {
        let b = SecretBytes::from_slice(b"hunter2");
        let s = SecretString::new("hunter2".into());
        for shown in [format!("{b:?}"), format!("{s:?}"), format!("{b:#?}")] {
            assert!(
                !shown.contains("hunter2") && !shown.contains("104"),
                "{shown}"
            );
        }
    }

    #[test]
    fn equality_is_by_content() {
        assert_eq!(SecretBytes::from_slice(b"a"), SecretBytes::from_slice(b"a"));
        assert_ne!(SecretBytes::from_slice(b"a"), SecretBytes::from_slice(b"b"));
        assert_ne!(
            SecretBytes::from_slice(b"a"),
            SecretBytes::from_slice(b"ab")
        );
        assert_eq!(SecretString::new("x".into()), SecretString::new("x".into()));
        assert!(!ct_eq(b"", b"x"));
    }

    #[test]
    fn text_comes_only_from_utf8() {
        let text = SecretString::try_from(SecretBytes::from_slice(b"ok")).unwrap();
        assert_eq!(text.expose(), "ok");
        let back = SecretString::try_from(SecretBytes::from_slice(&[0xff])).unwrap_err();
        assert_eq!(back.expose(), &[0xff]);
    }
}
