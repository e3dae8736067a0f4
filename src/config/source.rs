//! Where a problem is in the pipeline file and how it is worded: `file:line:col:` prefixes, serde's
//! errors in the conventions' words, and `${VAR}` / `${VAR:-default}` expansion.

use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::error::user_error;

/// Where in the file a problem is, for `file:line:col:` prefixes.
pub(crate) struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, col)
    }

    pub(crate) fn at(&self, offset: usize) -> String {
        let (line, col) = self.line_col(offset);
        format!("{}:{line}:{col}", self.file.display())
    }

    /// The `[table]` header in force at `offset`, for messages like `in [mix]`.
    pub(crate) fn table_at(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        // Up to the end of the offset's line: an error at a header (a missing key of an
        // `[[experiments]]` entry, say) is in that table, not the one before it.
        let end = self.text[offset..].find('\n').map_or(self.text.len(), |i| offset + i);
        self.text[..end]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.split('#').next().unwrap_or(l).trim().to_string())
    }

    /// Byte offset of `key = ...` inside `[table]` (or of the header, or 0), for errors found after
    /// parsing, when serde no longer knows where a value came from.
    pub(crate) fn key_offset(&self, table: &str, key: &str) -> usize {
        let header = format!("[{table}]");
        let mut offset = 0;
        let mut in_table = false;
        let mut header_at = None;
        for line in self.text.split_inclusive('\n') {
            let t = line.trim();
            if t.starts_with('[') {
                in_table = t.split('#').next().unwrap_or("").trim().replace(['"', '\''], "") == header;
                if in_table && header_at.is_none() {
                    header_at = Some(offset);
                }
            } else if in_table && t.split('=').next().map(str::trim) == Some(key) {
                return offset + (line.len() - line.trim_start().len());
            }
            offset += line.len();
        }
        header_at.unwrap_or(0)
    }

    pub(crate) fn error(&self, offset: usize, msg: impl std::fmt::Display) -> anyhow::Error {
        user_error(format!("{}: {msg}", self.at(offset)))
    }
}

/// Turn serde's wording into the conventions' wording: `unknown key "x" in [t] (expected one of: a, b)`.
pub(crate) fn describe_toml_error(src: &Source, err: &toml::de::Error) -> anyhow::Error {
    let offset = err.span().map_or(0, |s| s.start);
    let msg = err.message().trim().to_string();
    let table = src.table_at(offset);
    let in_table = table.as_ref().map(|t| format!(" in {t}")).unwrap_or_default();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (key, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, s)| s).collect();
        let hint =
            if expected.is_empty() { String::new() } else { format!(" (expected one of: {})", expected.join(", ")) };
        return src.error(offset, format!("unknown key \"{key}\"{in_table}{hint}"));
    }
    // Name the key whose value is wrong, read from the line itself.
    let (line, _) = src.line_col(offset);
    let key = src
        .text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match key {
        Some(k) => src.error(offset, format!("key \"{k}\"{in_table}: {msg}")),
        None => src.error(offset, format!("{msg}{}", if in_table.is_empty() { "" } else { &in_table })),
    }
}

/// Expand `${VAR}` and `${VAR:-default}` from the environment; an unset variable without a default is an
/// error at the value's position.
pub(crate) fn expand_env(src: &Source, value: &Spanned<String>) -> anyhow::Result<String> {
    let s = value.get_ref();
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end =
            after.find('}').ok_or_else(|| src.error(value.span().start, format!("unterminated \"${{\" in \"{s}\"")))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (std::env::var(name), default) {
            (Ok(v), _) if !v.is_empty() => out.push_str(&v),
            (_, Some(d)) => out.push_str(d),
            _ => {
                return Err(src.error(
                    value.span().start,
                    format!("environment variable ${{{name}}} is not set (used in \"{s}\")"),
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Source<'_> {
    /// `p` relative to the pipeline file's folder, made absolute: resolved paths travel in job
    /// documents, and the process that reads them may run in another directory.
    pub(crate) fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        let joined =
            if p.is_absolute() { p.to_path_buf() } else { self.file.parent().unwrap_or(Path::new(".")).join(p) };
        std::path::absolute(&joined).unwrap_or(joined)
    }

    /// The first quoted occurrence of `value` in the file (for values serde no longer locates).
    pub(crate) fn quoted_offset(&self, value: &str) -> usize {
        self.text.find(&format!("\"{value}\"")).unwrap_or(0)
    }
}

impl Source<'_> {
    /// Byte offset of the `[section.name]` header (or of the first `"name"`), for problems with a name.
    pub(crate) fn name_offset(&self, section: &str, name: &str) -> usize {
        match self.key_offset(&format!("{section}.{name}"), "\0") {
            0 => self.quoted_offset(name),
            at => at,
        }
    }
}

/// Read the options of one kind from its table: every key must be one of `keys` (the kind's own, plus
/// any the caller reads itself), and values are decoded by `parse` (missing keys take their defaults).
/// `table` is the TOML table path (`models.mlp`), `label` how messages name it (`[models.mlp]`).
pub(crate) fn parse_kind_options<T>(
    src: &Source,
    options: &toml::Table,
    (table, label, kind): (&str, &str, &str),
    keys: &[String],
    parse: impl Fn(serde_json::Map<String, serde_json::Value>) -> serde_json::Result<T>,
) -> anyhow::Result<T> {
    for key in options.keys() {
        if !keys.contains(key) {
            return Err(src.error(
                src.key_offset(table, key),
                format!("unknown key \"{key}\" in {label} (kind \"{kind}\"; expected one of: {})", keys.join(", ")),
            ));
        }
    }
    let to_json = |t: toml::Table| match serde_json::to_value(toml::Value::Table(t)) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    parse(to_json(options.clone())).map_err(|err| {
        // Name the key whose value is wrong: the first that fails on its own.
        let culprit = options.iter().find(|(k, v)| {
            let one: toml::Table = [((*k).clone(), (*v).clone())].into_iter().collect();
            parse(to_json(one)).is_err()
        });
        match culprit {
            Some((k, _)) => src.error(src.key_offset(table, k), format!("key \"{k}\" in {label}: {err}")),
            None => src.error(src.key_offset(table, "kind"), format!("{label}: {err}")),
        }
    })
}

/// A string value of a table, removed from it: `Ok(None)` when absent, an error at the key when it is not
/// a string.
pub(crate) fn take_string(
    src: &Source,
    options: &mut toml::Table,
    (table, label): (&str, &str),
    key: &str,
) -> anyhow::Result<Option<String>> {
    match options.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(src.error(
            src.key_offset(table, key),
            format!("key \"{key}\" in {label}: invalid type: {}, expected a string", other.type_str()),
        )),
    }
}
