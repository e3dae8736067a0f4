//! A generic corpus: `<root>/manifest.csv` with columns `path,label,speaker` and optionally `split` and
//! `gender`; paths are relative to the root. For every corpus sertool has no reader for.

use std::collections::BTreeSet;

use crate::config::Corpus;
use crate::util::csv;

use super::{file_fault, Scan, Utterance};

pub const FILE: &str = "manifest.csv";

pub fn scan(corpus: &Corpus) -> anyhow::Result<Scan> {
    let mut s = Scan::new(&corpus.name);
    let path = corpus.root.join(FILE);
    let text = super::read_text(&path, &corpus.name, FILE, &mut s.faults)
        .map_err(|e| crate::error::user_error(format!("corpus \"{}\": {}: {e}", corpus.name, path.display())))?;
    s.metadata_files.push((FILE.into(), path.clone()));
    let table =
        csv::parse(&text, &path).map_err(|e| crate::error::user_error(format!("corpus \"{}\": {e:#}", corpus.name)))?;
    let header: Vec<String> = table.header.iter().map(|h| h.trim().to_string()).collect();
    let col = |n: &str| header.iter().position(|h| h == n);
    let (Some(c_path), Some(c_label), Some(c_speaker)) = (col("path"), col("label"), col("speaker")) else {
        return Err(crate::error::user_error(format!(
            "{}:1: the header must name path, label and speaker (optional: split, gender); found: {}",
            path.display(),
            crate::util::csv::show_header(&header)
        )));
    };
    let (c_split, c_gender) = (col("split"), col("gender"));
    if corpus.split.method.as_deref() == Some("column") && c_split.is_none() {
        return Err(crate::error::user_error(format!(
            "{}:1: split.method = \"column\" but the header has no split column (set split.method = \"speakers\")",
            path.display()
        )));
    }
    let mut seen = BTreeSet::new();
    for row in &table.rows {
        let (f, line) = (&row.fields, row.line);
        if f.len() != header.len() {
            s.faults.push(file_fault(
                &corpus.name,
                format!("{FILE}:{line}"),
                "malformed line",
                format!("{} fields, the header has {}", f.len(), header.len()),
            ));
            continue;
        }
        let rel = f[c_path].trim().to_string();
        // The id is the path without its audio extension, so a.wav and a.flac are one utterance twice.
        let native_id = crate::audio::decode::strip_audio_ext(&rel).to_string();
        if !seen.insert(native_id.clone()) {
            s.faults.push(file_fault(&corpus.name, format!("{FILE}:{line}"), "duplicate utterance", rel));
            continue;
        }
        let mut u = Utterance::new(&corpus.name, &native_id, &corpus.root, rel);
        u.native_label = f[c_label].trim().to_string();
        u.speaker = f[c_speaker].trim().to_string();
        u.native_split = c_split.map(|c| f[c].trim().to_string());
        if let Some(c) = c_gender {
            let g = f[c].trim().to_ascii_lowercase();
            u.gender = match g.as_str() {
                "f" | "female" => "female".into(),
                "m" | "male" => "male".into(),
                _ => "unknown".into(),
            };
        }
        s.utterances.push(u);
    }
    Ok(s)
}
