//! CSV reading and writing, the one way sertool splits a CSV file (corpus label and metadata files, the generic
//! corpus manifest, ESC-50's meta): the `csv` crate, so quoted fields, embedded commas and line breaks,
//! `""` escapes, CRLF or LF line ends and a leading UTF-8 byte-order mark are all handled. Rows may have
//! any number of fields; each caller checks them against its header and says which line was wrong.

use std::path::Path;

/// One record and the line of the file it starts on (1-based, the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A CSV file: its first record as the header, then every other record. Blank lines (empty or only
/// whitespace) are skipped. Fields are as written: nothing is trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Row>,
}

impl Table {
    /// Index of the header field equal to `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// Line numbers of byte offsets, counted forward (offsets come in increasing order). LF, CRLF and a lone
/// CR each end a line.
#[derive(Default)]
struct LineCounter {
    byte: usize,
    line: usize,
}

impl LineCounter {
    fn line_at(&mut self, text: &str, byte: usize) -> usize {
        let bytes = text.as_bytes();
        // A record's offset may point at the line break that ended the previous one.
        let mut start = byte.min(bytes.len());
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        for i in self.byte.min(start)..start {
            if bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                self.line += 1;
            }
        }
        self.byte = self.byte.max(start);
        self.line + 1
    }
}

/// Parse CSV text read from `origin` (named, with the line, in an error).
pub fn parse(text: &str, origin: &Path) -> anyhow::Result<Table> {
    let mut reader = ::csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut records = Vec::new();
    let mut lines = LineCounter::default();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            anyhow::anyhow!("{}:{line}: not readable as CSV: {e}", origin.display())
        })?;
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        // The crate's own line count lags behind after a CRLF; count from the record's byte offset.
        let line = lines.line_at(text, record.position().map_or(0, |p| p.byte() as usize));
        records.push(Row { line, fields: record.iter().map(str::to_string).collect() });
    }
    let mut records = records.into_iter();
    let header = records.next().map(|r| r.fields).unwrap_or_default();
    Ok(Table { header, rows: records.collect() })
}

/// A header as an error message shows it: on one line (line breaks and control characters escaped) and
/// at most 120 characters, since a stray quote can make the "header" the rest of the file.
pub fn show_header(header: &[String]) -> String {
    let joined: String = header.join(",").chars().flat_map(char::escape_default).collect();
    match joined.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &joined[..i]),
        None => joined,
    }
}

/// A CSV document of `header` and `rows`, quoted where a field needs it (commas, quotes, line breaks).
pub fn write(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut w = ::csv::WriterBuilder::new().terminator(::csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    // Writing to memory cannot fail; a field that is not UTF-8 cannot occur (they are Strings).
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(&r);
    }
    String::from_utf8_lossy(&w.into_inner().unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(t: &Table) -> Vec<Vec<&str>> {
        t.rows.iter().map(|r| r.fields.iter().map(String::as_str).collect()).collect()
    }

    #[test]
    fn a_header_in_an_error_is_one_short_line() {
        // A stray quote made the csv crate read the rest of the file as the header (fuzz regression).
        let h = vec!["\"path\nrow,1\nrow,2".to_string(), "x".repeat(300)];
        let shown = show_header(&h);
        assert!(!shown.contains('\n') && shown.chars().count() <= 121, "{shown}");
    }

    #[test]
    fn quotes_commas_crlf_bom_and_lines() {
        let text = "\u{feff}\"ActorID\",\"Age\",Sex\r\n1001,51,\"Male\"\r\n\r\n  \r\n1002,\"4, 2\",\"say \"\"hi\"\"\"\n\"multi\nline\",x,\n";
        let t = parse(text, Path::new("demo.csv")).unwrap();
        assert_eq!(t.header, ["ActorID", "Age", "Sex"]);
        assert_eq!(t.column("Sex"), Some(2));
        assert_eq!(
            fields(&t),
            [vec!["1001", "51", "Male"], vec!["1002", "4, 2", "say \"hi\""], vec!["multi\nline", "x", ""]]
        );
        assert_eq!(t.rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 5, 6]);
        let t = parse("h\n\n1\r2\r\n\r\n3\n4", Path::new("x.csv")).unwrap();
        assert_eq!(
            t.rows.iter().map(|r| (r.line, r.fields[0].as_str())).collect::<Vec<_>>(),
            [(3, "1"), (4, "2"), (6, "3"), (7, "4")]
        );
        // Short and long rows are the caller's to judge.
        let t = parse("a,b,c\n1,2\n1,2,3,4", Path::new("x.csv")).unwrap();
        assert_eq!(fields(&t), [vec!["1", "2"], vec!["1", "2", "3", "4"]]);
        assert_eq!(parse("", Path::new("empty.csv")).unwrap(), Table::default());
        // Nothing is trimmed.
        assert_eq!(parse(" path , label\n", Path::new("x.csv")).unwrap().header, [" path ", " label"]);
    }
}
