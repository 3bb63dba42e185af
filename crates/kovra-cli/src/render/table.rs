//! The record listing as a person reads it: a row per record, each column as wide as its
//! widest cell. The table needs every row before it prints the first, so a streamed listing
//! keeps only the cells' text (one string, and where each cell ends) rather than parsed
//! records: at 100,000 records that is about the size of what is printed, where whole
//! records took twelve times that and most of the time.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use kovra_core::model::{RecordKind, Sensitivity};
use kovra_proto::RecordView;
use serde::Deserialize;

use super::out::spaces;
use super::width::fit_into;

const COLUMNS: usize = 7;
const HEAD: [&str; COLUMNS] = [
    "COORDINATE",
    "VAULT",
    "KIND",
    "SENSITIVITY",
    "REVEALABLE",
    "VERSION",
    "DESCRIPTION",
];
/// Between two columns.
const GAP: &str = "  ";

/// The fields of a listed record the table shows, read from a page of a streamed listing,
/// borrowing the page's text where a string has no escape. Any other field is skipped.
#[derive(Deserialize)]
pub(super) struct Row<'a> {
    #[serde(borrow)]
    coordinate: Cow<'a, str>,
    #[serde(borrow)]
    vault: Cow<'a, str>,
    sensitivity: Sensitivity,
    revealable: bool,
    production: bool,
    #[serde(borrow)]
    description: Cow<'a, str>,
    version: u64,
    #[serde(default, rename = "type")]
    kind: RecordKind,
}

impl<'a> From<&'a RecordView> for Row<'a> {
    fn from(r: &'a RecordView) -> Self {
        Row {
            coordinate: Cow::Borrowed(&r.coordinate),
            vault: Cow::Borrowed(&r.vault),
            sensitivity: r.sensitivity,
            revealable: r.revealable,
            production: r.production,
            description: Cow::Borrowed(&r.description),
            version: r.version,
            kind: r.kind,
        }
    }
}

/// A table being filled: the header, then a row per [`push`](Table::push).
pub(super) struct Table {
    /// Every cell's text, one after another.
    text: String,
    /// Where each cell ends in `text`, [`COLUMNS`] to a row.
    ends: Vec<usize>,
    /// The widest cell of each column so far, in characters.
    widths: [usize; COLUMNS],
    /// Per row: every cell printable ASCII and the last one neither empty nor ending in a
    /// space, so the row prints as its cells and padding, with no cleaning or trimming.
    plain: Vec<bool>,
}

impl Table {
    pub(super) fn new() -> Self {
        let mut table = Table {
            text: String::new(),
            ends: Vec::new(),
            widths: [0; COLUMNS],
            plain: Vec::new(),
        };
        let start = table.text.len();
        for (column, head) in HEAD.iter().enumerate() {
            table.cell(column, head);
        }
        table.end_row(start);
        table
    }

    /// The table of a listing that came whole (a `records` reply).
    pub(super) fn of(records: &[RecordView]) -> Self {
        let mut table = Table::new();
        for r in records {
            table.push(&Row::from(r));
        }
        table
    }

    /// Whether it holds no row but the header.
    pub(super) fn is_empty(&self) -> bool {
        self.ends.len() <= COLUMNS
    }

    pub(super) fn push(&mut self, r: &Row<'_>) {
        let start = self.text.len();
        self.cell(0, &r.coordinate);
        self.cell(1, &r.vault);
        self.cell(2, r.kind.as_str());
        let at = self.text.len();
        self.text.push_str(r.sensitivity.as_str());
        if r.production {
            self.text.push_str("/prod");
        }
        self.close_cell(3, at);
        self.cell(4, if r.revealable { "yes" } else { "no" });
        let at = self.text.len();
        let _ = write!(self.text, "{}", r.version);
        self.close_cell(5, at);
        self.cell(6, &r.description);
        self.end_row(start);
    }

    fn cell(&mut self, column: usize, value: &str) {
        let at = self.text.len();
        self.text.push_str(value);
        self.close_cell(column, at);
    }

    /// The cell begun at `at` ends here: widen its column to it.
    fn close_cell(&mut self, column: usize, at: usize) {
        let cell = &self.text[at..];
        let chars = if cell.is_ascii() {
            cell.len()
        } else {
            cell.chars().count()
        };
        self.widths[column] = self.widths[column].max(chars);
        self.ends.push(self.text.len());
    }

    /// The row whose cells began at `start` is complete.
    fn end_row(&mut self, start: usize) {
        let cells = &self.text.as_bytes()[start..];
        let last = self.ends.len() - 2;
        let description = &self.text.as_bytes()[self.ends[last]..];
        let plain = cells.iter().all(|b| (b' '..=b'~').contains(b))
            && description.last().is_some_and(|&b| b != b' ');
        self.plain.push(plain);
    }

    /// Print the table, a line per row: every column but the last padded to its width, the
    /// line's trailing spaces dropped, then cut to `width` (the description, last, is what a
    /// narrow terminal loses).
    pub(super) fn write(&self, out: &mut impl Write, width: Option<usize>) -> io::Result<()> {
        let mut line = String::new();
        let mut shown = String::new();
        let mut start = 0;
        for (row, &plain) in self.ends.chunks_exact(COLUMNS).zip(&self.plain) {
            let mut cells = [""; COLUMNS];
            for (cell, &end) in cells.iter_mut().zip(row) {
                *cell = &self.text[start..end];
                start = end;
            }
            if plain {
                self.write_plain(out, &cells, width)?;
                continue;
            }
            line.clear();
            for (column, cell) in cells.iter().enumerate() {
                line.push_str(cell);
                if column + 1 < COLUMNS {
                    let pad = self.widths[column].saturating_sub(cell.chars().count());
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(GAP);
                }
            }
            shown.clear();
            fit_into(line.trim_end(), width, &mut shown);
            shown.push('\n');
            out.write_all(shown.as_bytes())?;
        }
        Ok(())
    }

    /// A plain row (see `plain`), written piece by piece: one character is one byte, so its
    /// length and where `width` cuts it are known before it is written. Most rows are plain,
    /// and a line copied whole through a buffer or two was half the time of a long table.
    fn write_plain(
        &self,
        out: &mut impl Write,
        cells: &[&str; COLUMNS],
        width: Option<usize>,
    ) -> io::Result<()> {
        let length: usize = self.widths[..COLUMNS - 1]
            .iter()
            .map(|w| w + GAP.len())
            .sum::<usize>()
            + cells[COLUMNS - 1].len();
        let cut = width.filter(|&w| length > w);
        let mut room = cut.map_or(usize::MAX, |w| w.saturating_sub(1));
        let mut put = |bytes: &[u8]| -> io::Result<()> {
            let n = bytes.len().min(room);
            room -= n;
            out.write_all(&bytes[..n])
        };
        for (column, cell) in cells.iter().enumerate() {
            put(cell.as_bytes())?;
            if column + 1 < COLUMNS {
                for s in spaces(self.widths[column] - cell.len() + GAP.len()) {
                    put(s)?;
                }
            }
        }
        match cut {
            None => out.write_all(b"\n"),
            Some(_) => out.write_all("…\n".as_bytes()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn view(coordinate: &str, description: &str) -> RecordView {
        serde_json::from_value(serde_json::json!({
            "coordinate": coordinate,
            "vault": "global",
            "env": "dev",
            "sensitivity": "high",
            "revealable": false,
            "production": true,
            "description": description,
            "version": 12,
            "created": 1,
            "updated": 2,
            "type": "ssh-key",
        }))
        .unwrap()
    }

    fn printed(table: &Table, width: Option<usize>) -> String {
        let mut out = Vec::new();
        table.write(&mut out, width).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let records = [
            view("secret:dev/a/b", "short"),
            view("secret:dev/group/much-longer-name", ""),
        ];
        let want = "\
COORDINATE                         VAULT   KIND     SENSITIVITY  REVEALABLE  VERSION  DESCRIPTION
secret:dev/a/b                     global  ssh-key  high/prod    no          12       short
secret:dev/group/much-longer-name  global  ssh-key  high/prod    no          12
";
        assert_eq!(printed(&Table::of(&records), None), want);
    }

    #[test]
    fn a_streamed_row_prints_as_the_record_it_came_from() {
        let record = view("secret:dev/é/ü", "with \"quotes\" and é");
        let wire = serde_json::to_string(&record).unwrap();
        let mut streamed = Table::new();
        streamed.push(&serde_json::from_str::<Row<'_>>(&wire).unwrap());
        let whole = Table::of(std::slice::from_ref(&record));
        assert_eq!(printed(&streamed, Some(60)), printed(&whole, Some(60)));
        assert!(printed(&streamed, None).contains("with \"quotes\" and é"));
    }

    #[test]
    fn lines_are_cut_to_the_width_and_cleaned_of_control_characters() {
        let records = [view("secret:dev/a/b", "x\u{1b}[2J then a long description")];
        let text = printed(&Table::of(&records), Some(90));
        for line in text.lines() {
            assert!(line.chars().count() <= 90, "{line}");
        }
        assert!(text.contains("x?[2J then"), "{text}");
        assert!(text.lines().nth(1).unwrap().ends_with('…'), "{text}");
        // Width is counted in characters: a multi-byte cell pads like any other.
        let wide = [view("secret:dev/é/ü", "d"), view("secret:dev/a/bcd", "d")];
        let text = printed(&Table::of(&wide), None);
        let at: Vec<usize> = text
            .lines()
            .skip(1)
            .map(|l| l.chars().position(|c| c == 'g').unwrap())
            .collect();
        assert_eq!(at[0], at[1], "{text}");
    }

    #[test]
    fn plain_rows_print_as_the_general_path_prints_them() {
        let records = [
            view("secret:dev/a/b", "short"),
            view(
                "secret:dev/group/much-longer-name",
                "a description of some length",
            ),
            view("secret:dev/x/y", "ends in a space "),
            view("secret:dev/x/z", ""),
        ];
        let table = Table::of(&records);
        assert_eq!(table.plain, [true, true, true, false, false]);
        let mut general = Table::of(&records);
        general.plain.fill(false);
        for width in [
            None,
            Some(0),
            Some(1),
            Some(20),
            Some(34),
            Some(60),
            Some(95),
            Some(300),
        ] {
            assert_eq!(
                printed(&table, width),
                printed(&general, width),
                "{width:?}"
            );
        }
    }
}
