//! The replies a refused request gets: one constructor per kind of refusal, so every
//! code and hint is spelled in one place.

use kovra_core::coord::Coordinate;
use kovra_core::store::StoreError;
use kovra_core::totp;
use kovra_proto::{ErrorReply, Reply, Response, Secret};

pub(super) fn error(code: &str, message: impl Into<String>, hint: Option<&str>) -> Response {
    Response::Error(ErrorReply {
        code: code.to_string(),
        message: message.into(),
        hint: hint.map(str::to_string),
    })
}

pub(super) fn ok(reply: Reply) -> Response {
    Response::Ok {
        reply: Box::new(reply),
    }
}

pub(super) fn store_error(e: &StoreError) -> Response {
    let hint = match e {
        StoreError::NotInitialized(_) => Some("run `kovra init` to create a vault"),
        StoreError::AlreadyInitialized(_) => {
            Some("use `kovra unlock`; to start over, move the home away first")
        }
        StoreError::WrongPassphrase => Some("try again; the passphrase is case-sensitive"),
        StoreError::RecordTampered(_) => Some(
            "the row was changed outside kovra; restore the vault from a backup or remove the record",
        ),
        StoreError::VaultTampered(_) => {
            Some("the vault file was changed outside kovra; restore it from a backup")
        }
        StoreError::UnknownProject(_) => {
            Some("create it with `kovra project create NAME`, or check `kovra project list`")
        }
        StoreError::ProjectExists(_) => Some("pick another name, or use the existing project"),
        StoreError::AlreadyExists(_) => Some("use `kovra set` to replace its value"),
        StoreError::NoSuchVersion(..) => Some("`kovra history COORD` lists the versions"),
        StoreError::Corrupt(_) => Some("the database file is damaged; restore it from a backup"),
        _ => None,
    };
    error(e.code(), e.to_string(), hint)
}

pub(super) fn locked() -> Response {
    error(
        "vault-locked",
        "the vault is locked",
        Some("run `kovra unlock`"),
    )
}

pub(super) fn not_found(coord: &Coordinate) -> Response {
    error(
        "not-found",
        format!("no record at {coord} in this scope"),
        Some("`kovra list` shows the records you can address; `kovra add` creates one"),
    )
}

pub(super) fn parse_coord(text: &str) -> Result<Coordinate, Response> {
    Coordinate::parse(text).map_err(|e| {
        error(
            "coordinate-invalid",
            format!("invalid coordinate: {e}"),
            Some(e.hint()),
        )
    })
}

/// A TOTP seed as the user gave it, refused with a stable code that never echoes it.
pub(super) fn parse_totp(
    value: &Secret,
) -> Result<(zeroize::Zeroizing<Vec<u8>>, totp::TotpParams), Response> {
    totp::parse_seed(value.expose()).map_err(|e| {
        error(
            e.code(),
            e.to_string(),
            Some("give the base32 seed or the otpauth://totp/ URI your service showed"),
        )
    })
}
