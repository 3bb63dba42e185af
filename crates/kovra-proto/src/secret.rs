//! A secret on the wire: base64 in JSON; in memory the core's `SecretBytes` (zeroized,
//! `[redacted]` in Debug, compared in constant time).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kovra_core::secret::SecretBytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// Bytes that must never be printed or logged: passphrases and values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(SecretBytes);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(SecretBytes::new(bytes))
    }

    /// The one way to read the bytes: every caller is a seal, inject, verify or reveal site.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<Zeroizing<Vec<u8>>> for Secret {
    fn from(value: Zeroizing<Vec<u8>>) -> Self {
        Secret(value.into())
    }
}

impl From<SecretBytes> for Secret {
    fn from(value: SecretBytes) -> Self {
        Secret(value)
    }
}

impl From<Secret> for SecretBytes {
    fn from(value: Secret) -> Self {
        value.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let encoded = Zeroizing::new(STANDARD.encode(self.0.expose()));
        s.serialize_str(&encoded)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                STANDARD
                    .decode(v)
                    .map(Secret::new)
                    .map_err(|_| E::custom("a secret field is not valid base64"))
            }
        }
        d.deserialize_str(V)
    }
}
