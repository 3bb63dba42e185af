//! A streamed reply's document, written as its pages arrive: the same bytes
//! `serde_json::to_string_pretty` gives for the whole document (a test below holds them
//! equal), without ever holding the whole document or a tree of it. Each item is
//! pretty-printed straight into the output at its depth in the document.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

use crate::render::out::spaces;

/// Where the open array's items go: `{"kind": …, "<field>": [` is written by `begin`.
pub(crate) struct DocStream<W: Write> {
    w: W,
    items: usize,
}

impl<W: Write> DocStream<W> {
    /// Open the document with its `kind` and the array field that streams.
    pub(crate) fn begin(mut w: W, kind: &str, field: &str) -> std::io::Result<Self> {
        w.write_all(b"{\n  \"kind\": ")?;
        serde_json::to_writer(&mut w, kind)?;
        w.write_all(b",\n  ")?;
        serde_json::to_writer(&mut w, field)?;
        w.write_all(b": [")?;
        Ok(DocStream { w, items: 0 })
    }

    /// One array item.
    pub(crate) fn item<T: Serialize>(&mut self, item: &T) -> std::io::Result<()> {
        self.w.write_all(if self.items == 0 {
            b"\n    "
        } else {
            b",\n    "
        })?;
        self.items += 1;
        pretty_at(&mut self.w, 2, item)
    }

    /// Close the array; the fields after it follow with [`DocTail::field`].
    pub(crate) fn end_items(mut self) -> std::io::Result<DocTail<W>> {
        if self.items > 0 {
            self.w.write_all(b"\n  ")?;
        }
        self.w.write_all(b"]")?;
        Ok(DocTail { w: self.w })
    }
}

/// The fields after the streamed array.
pub(crate) struct DocTail<W: Write> {
    w: W,
}

impl<W: Write> DocTail<W> {
    pub(crate) fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &str,
        value: &T,
    ) -> std::io::Result<()> {
        self.w.write_all(b",\n  ")?;
        serde_json::to_writer(&mut self.w, name)?;
        self.w.write_all(b": ")?;
        pretty_at(&mut self.w, 1, value)
    }

    /// Close the document and its line; hands back the writer to flush.
    pub(crate) fn finish(mut self) -> std::io::Result<W> {
        self.w.write_all(b"\n}\n")?;
        Ok(self.w)
    }
}

/// Write `value` as pretty JSON whose lines after the first are indented as at `depth` in
/// the document.
fn pretty_at<W: Write, T: Serialize + ?Sized>(
    w: &mut W,
    depth: usize,
    value: &T,
) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(
        w,
        Nested {
            depth,
            has_value: false,
        },
    );
    value.serialize(&mut ser).map_err(io::Error::from)
}

/// serde_json's pretty layout (two spaces a level, `": "` after a key, empty arrays and
/// objects as `[]` and `{}`) starting at a depth other than zero, which its own
/// `PrettyFormatter` cannot: without it each item was printed into a buffer of its own and
/// copied out line by line to indent it.
struct Nested {
    depth: usize,
    has_value: bool,
}

impl Nested {
    fn open<W: Write + ?Sized>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: Write + ?Sized>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.line(w)?;
        }
        w.write_all(bracket)
    }

    fn entry<W: Write + ?Sized>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }

    fn line<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        self.indent(w)
    }

    fn indent<W: Write + ?Sized>(&self, w: &mut W) -> io::Result<()> {
        spaces(self.depth * 2).try_for_each(|s| w.write_all(s))
    }
}

impl Formatter for Nested {
    fn begin_array<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: Write + ?Sized>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.entry(w, first)
    }

    fn end_array_value<W: Write + ?Sized>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: Write + ?Sized>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.entry(w, first)
    }

    fn begin_object_value<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: Write + ?Sized>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn streamed(items: &[serde_json::Value], tail: &[(&str, serde_json::Value)]) -> String {
        let mut doc = DocStream::begin(Vec::new(), "records", "records").unwrap();
        for i in items {
            doc.item(i).unwrap();
        }
        let mut t = doc.end_items().unwrap();
        for (name, value) in tail {
            t.field(name, value).unwrap();
        }
        String::from_utf8(t.finish().unwrap()).unwrap()
    }

    #[test]
    fn the_stream_is_byte_for_byte_the_pretty_document() {
        // Deeper than one run of the indent's spaces, and every kind of container.
        let mut deep = json!(["bottom"]);
        for _ in 0..40 {
            deep = json!([deep, {"k": []}]);
        }
        let item = json!({"coordinate": "secret:dev/a/b", "description": "two\nlines \"q\"",
            "totp": {"algorithm": "SHA1", "digits": 6, "period": 30}, "empty": [], "obj": {},
            "rows": [{"a": []}, {"b": {"c": [1, 2.5, null, true]}}, [], {}], "deep": deep});
        for n in [0, 1, 3] {
            let items = vec![item.clone(); n];
            let tail = [
                ("tampered", json!(1)),
                ("missing", json!(0)),
                ("error", json!({"code": "record-tampered", "hint": null})),
            ];
            let mut whole = serde_json::Map::new();
            whole.insert("kind".into(), json!("records"));
            whole.insert("records".into(), json!(items));
            for (k, v) in &tail {
                whole.insert((*k).into(), v.clone());
            }
            let want = serde_json::to_string_pretty(&whole).unwrap() + "\n";
            assert_eq!(streamed(&items, &tail), want);
        }
    }
}
