//! A streamed reply's document, written as its pages arrive: the same bytes
//! `serde_json::to_string_pretty` gives for the whole document (a test below holds them
//! equal), without ever holding the whole document or a tree of it. Each item is
//! pretty-printed on its own and indented to its depth; pretty JSON never has a raw
//! newline inside a string, so indenting after each newline is exact.

use std::io::Write;

use serde::Serialize;

/// Where the open array's items go: `{"kind": …, "<field>": [` is written by `begin`.
pub(crate) struct DocStream<W: Write> {
    w: W,
    items: usize,
    buf: Vec<u8>,
}

impl<W: Write> DocStream<W> {
    /// Open the document with its `kind` and the array field that streams.
    pub(crate) fn begin(mut w: W, kind: &str, field: &str) -> std::io::Result<Self> {
        w.write_all(b"{\n  \"kind\": ")?;
        serde_json::to_writer(&mut w, kind)?;
        w.write_all(b",\n  ")?;
        serde_json::to_writer(&mut w, field)?;
        w.write_all(b": [")?;
        Ok(DocStream {
            w,
            items: 0,
            buf: Vec::with_capacity(1024),
        })
    }

    /// One array item.
    pub(crate) fn item<T: Serialize>(&mut self, item: &T) -> std::io::Result<()> {
        self.w.write_all(if self.items == 0 {
            b"\n    "
        } else {
            b",\n    "
        })?;
        self.items += 1;
        self.buf.clear();
        serde_json::to_writer_pretty(&mut self.buf, item)?;
        indented(&mut self.w, &self.buf, b"\n    ")
    }

    /// Close the array; the fields after it follow with [`DocTail::field`].
    pub(crate) fn end_items(mut self) -> std::io::Result<DocTail<W>> {
        if self.items > 0 {
            self.w.write_all(b"\n  ")?;
        }
        self.w.write_all(b"]")?;
        Ok(DocTail {
            w: self.w,
            buf: self.buf,
        })
    }
}

/// The fields after the streamed array.
pub(crate) struct DocTail<W: Write> {
    w: W,
    buf: Vec<u8>,
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
        self.buf.clear();
        serde_json::to_writer_pretty(&mut self.buf, value)?;
        indented(&mut self.w, &self.buf, b"\n  ")
    }

    /// Close the document and its line; hands back the writer to flush.
    pub(crate) fn finish(mut self) -> std::io::Result<W> {
        self.w.write_all(b"\n}\n")?;
        Ok(self.w)
    }
}

/// `text` with every newline followed by the indent of its depth.
fn indented<W: Write>(w: &mut W, text: &[u8], newline: &[u8]) -> std::io::Result<()> {
    let mut lines = text.split(|b| *b == b'\n');
    if let Some(first) = lines.next() {
        w.write_all(first)?;
    }
    for line in lines {
        w.write_all(newline)?;
        w.write_all(line)?;
    }
    Ok(())
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
        let item = json!({"coordinate": "secret:dev/a/b", "description": "two\nlines \"q\"",
            "totp": {"algorithm": "SHA1", "digits": 6, "period": 30}, "empty": [], "obj": {}});
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
