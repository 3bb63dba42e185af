//! The tools' structured results (their output schemas): what the daemon answered, in the
//! shape the agent reads. Never a value (only `reveal` returns one, as text).

use std::borrow::Cow;

use rmcp::schemars;
use serde::ser::SerializeTuple;
use serde::{Serialize, Serializer};

/// A value's name on the wire (`inject-only`, `metadata`, ...); `None` if it has none.
pub(crate) fn wire_name<T: Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
}

/// A record's metadata: `edit_metadata`'s result, and one row of a `list` page (there as an
/// array of these values in [`LIST_COLUMNS`] order).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RecordOut {
    pub coordinate: String,
    /// `global` or `project:NAME`.
    pub vault: String,
    pub env: String,
    pub sensitivity: String,
    pub revealable: bool,
    pub production: bool,
    pub description: String,
    pub version: u64,
    pub updated: u64,
    pub totp: bool,
    /// What the record holds: `secret`, `totp`, `ssh-key` or `postgres`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl From<kovra_proto::RecordView> for RecordOut {
    fn from(r: kovra_proto::RecordView) -> Self {
        RecordOut {
            coordinate: r.coordinate,
            vault: r.vault,
            env: r.env,
            sensitivity: wire_name(&r.sensitivity).unwrap_or_default(),
            revealable: r.revealable,
            production: r.production,
            description: r.description,
            version: r.version,
            updated: r.updated,
            totp: r.totp.is_some(),
            kind: r.kind.as_str(),
        }
    }
}

/// The names of a `list` row's values, in order: [`RecordOut`]'s fields (a test holds them
/// equal).
pub const LIST_COLUMNS: [&str; 11] = [
    "coordinate",
    "vault",
    "env",
    "sensitivity",
    "revealable",
    "production",
    "description",
    "version",
    "updated",
    "totp",
    "type",
];

/// `list`'s structured result: one page, each record a row of values under `columns`.
///
/// Why rows, and why the schema gives them no `items`: clients validate the structured
/// content against the output schema on every call, and a JSON Schema validator visits each
/// value a subschema applies to (Python's `jsonschema` pays a few microseconds per visit).
/// Records as typed objects made 11 visits per record: 1,000 records cost the official Python
/// SDK about 50 ms, ten times everything else in the call. Any `items` schema still costs
/// one visit per record (about 5 ms per 1,000); none costs nothing, and the types are
/// described in words instead. Rows without keys also halve the bytes (and the client's
/// parse, and a model's tokens) against objects. `bench/mcp.sh` measures it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ListOut {
    /// The names of each row's values, in order (always these).
    pub columns: ListColumns,
    /// This page of records, ordered by vault then coordinate: one array per record holding
    /// its values in `columns` order. coordinate: string; vault: string, `global` or
    /// `project:NAME`; env: string; sensitivity: string, `low`, `medium`, `high` or
    /// `inject-only`; revealable: boolean; production: boolean; description: string;
    /// version: integer; updated: integer, Unix seconds; totp: boolean, whether the record
    /// is a TOTP credential; type: string, `secret`, `totp`, `ssh-key` or `postgres`. Never a value.
    #[serde(serialize_with = "rows")]
    #[schemars(schema_with = "rows_schema")]
    pub records: Vec<RecordOut>,
    /// Rows withheld because they failed authentication (in the whole listing).
    pub tampered: usize,
    /// Records the index knows that the database no longer holds (in the whole listing).
    pub missing: usize,
    /// Records in the whole listing, every page together.
    pub total: usize,
    /// Set when more records follow: call `list` again with this as `cursor` (and the same
    /// `env`). Opaque: pass it unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The position of this page's first record in the listing (from 1), for the summary.
    #[serde(skip)]
    pub(crate) first: usize,
}

/// A `list` result's `columns`: [`LIST_COLUMNS`], and a schema that holds it to exactly that
/// (one comparison per result, however many records).
#[derive(Debug, Clone, Copy, Default)]
pub struct ListColumns;

impl Serialize for ListColumns {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LIST_COLUMNS.serialize(s)
    }
}

impl schemars::JsonSchema for ListColumns {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "ListColumns".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schema(serde_json::json!({ "const": LIST_COLUMNS }))
    }
}

/// An array, with no `items` schema: see [`ListOut`].
fn rows_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schema(serde_json::json!({ "type": "array" }))
}

fn schema(value: serde_json::Value) -> schemars::Schema {
    match value {
        serde_json::Value::Object(map) => map.into(),
        _ => schemars::Schema::default(),
    }
}

/// Each record as an array of its values in [`LIST_COLUMNS`] order.
fn rows<S: Serializer>(records: &[RecordOut], s: S) -> Result<S::Ok, S::Error> {
    struct Row<'a>(&'a RecordOut);
    impl Serialize for Row<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let r = self.0;
            let mut row = s.serialize_tuple(LIST_COLUMNS.len())?;
            row.serialize_element(&r.coordinate)?;
            row.serialize_element(&r.vault)?;
            row.serialize_element(&r.env)?;
            row.serialize_element(&r.sensitivity)?;
            row.serialize_element(&r.revealable)?;
            row.serialize_element(&r.production)?;
            row.serialize_element(&r.description)?;
            row.serialize_element(&r.version)?;
            row.serialize_element(&r.updated)?;
            row.serialize_element(&r.totp)?;
            row.serialize_element(&r.kind)?;
            row.end()
        }
    }
    s.collect_seq(records.iter().map(Row))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatusOut {
    pub initialized: bool,
    pub unlocked: bool,
    /// The project vaults this session may address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locks_in_secs: Option<u64>,
    pub production_environments: Vec<String>,
    /// The project bare coordinates resolve in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// This session's operations.
    pub operations: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FingerprintOut {
    pub coordinate: String,
    pub fingerprint: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RunOut {
    /// The exit code, or 128+N after signal N.
    pub exit_code: i32,
    /// Redacted standard output.
    pub stdout: String,
    /// Redacted standard error.
    pub stderr: String,
    /// Whether output beyond `max_output_bytes` was dropped.
    pub truncated: bool,
    /// Whether the program was stopped at its timeout.
    pub timed_out: bool,
    /// The names (not values) of the variables injected.
    pub injected: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WrittenOut {
    pub coordinate: String,
    pub vault: String,
    pub version: u64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use rmcp::handler::server::common::schema_for_output;

    fn record() -> RecordOut {
        RecordOut {
            coordinate: "secret:dev/db/password".into(),
            vault: "project:app".into(),
            env: "dev".into(),
            sensitivity: "inject-only".into(),
            revealable: false,
            production: true,
            description: "the database".into(),
            version: 3,
            updated: 1_700_000_000,
            totp: true,
            kind: "totp",
        }
    }

    #[test]
    fn a_row_holds_the_record_fields_in_column_order() {
        let out = ListOut {
            columns: ListColumns,
            records: vec![record()],
            tampered: 0,
            missing: 0,
            total: 1,
            next_cursor: None,
            first: 1,
        };
        let wire = serde_json::to_value(&out).unwrap();
        let object = serde_json::to_value(record()).unwrap();
        let object = object.as_object().unwrap();
        assert_eq!(wire["columns"], serde_json::json!(LIST_COLUMNS));
        let row = wire["records"][0].as_array().unwrap();
        assert_eq!(row.len(), object.len(), "{row:?} against {object:?}");
        for (name, value) in LIST_COLUMNS.iter().zip(row) {
            assert_eq!(object.get(*name), Some(value), "column {name}");
        }
    }

    #[test]
    fn the_list_schema_pins_the_columns_and_describes_each_without_items() {
        let schema = schema_for_output::<ListOut>();
        let props = &schema["properties"];
        assert_eq!(props["columns"]["const"], serde_json::json!(LIST_COLUMNS));
        let records = props["records"].as_object().unwrap();
        assert_eq!(records["type"], "array");
        assert!(
            !records.contains_key("items") && !records.contains_key("prefixItems"),
            "a per-record schema costs clients a visit per record: {records:?}"
        );
        let described = records["description"].as_str().unwrap();
        for name in LIST_COLUMNS {
            assert!(
                described.contains(&format!("{name}: ")),
                "{name} not described: {described}"
            );
        }
        let required = schema["required"].as_array().unwrap();
        assert!(required.contains(&"columns".into()) && required.contains(&"records".into()));
    }
}
