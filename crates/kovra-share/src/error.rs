//! Sharing failures, each with a stable code. Messages never carry a value or a token.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ShareError {
    #[error("{0}")]
    RecipientInvalid(String),
    #[error("this package is not addressed to this vault's identity")]
    NotForUs,
    #[error("the token does not open this package")]
    TokenInvalid,
    #[error("the package is damaged or not a kovra package: {0}")]
    Invalid(String),
    #[error("the package's signature does not verify: it was changed after it was sealed")]
    SignatureInvalid,
    #[error("the identity record is unreadable")]
    IdentityInvalid,
    #[error("sealing failed: {0}")]
    Seal(String),
}
