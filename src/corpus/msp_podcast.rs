//! MSP-Podcast: `Labels/labels_consensus.csv` (older releases: `labels_concensus.csv`), audio in
//! `Audios/`, and the partition either in the labels' `Split_Set` column or in `Partitions.txt` /
//! `Partition.txt` (lines `<Split>; <FileName>`). Unknown speakers stay "unknown".

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Corpus;
use crate::util::csv;
use crate::util::fs::{list_dir, Entries};

use super::{file_fault, Scan, Utterance};

pub const LABEL_FILES: [&str; 2] = ["Labels/labels_consensus.csv", "Labels/labels_concensus.csv"];
pub const PARTITION_FILES: [&str; 2] = ["Partitions.txt", "Partition.txt"];

fn read_partition(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(';'))
        .map(|(split, file)| (file.trim().to_string(), split.trim().to_string()))
        .collect()
}

pub fn scan(corpus: &Corpus) -> anyhow::Result<Scan> {
    let mut s = Scan::new(&corpus.name);
    let root = &corpus.root;
    let label_rel = LABEL_FILES.iter().find(|f| root.join(f).is_file()).ok_or_else(|| {
        crate::error::user_error(format!(
            "corpus \"{}\": neither {} nor {} exists under {} (is this an MSP-Podcast release?)",
            corpus.name,
            LABEL_FILES[0],
            LABEL_FILES[1],
            root.display()
        ))
    })?;
    let text = super::read_text(&root.join(label_rel), &corpus.name, label_rel, &mut s.faults)
        .map_err(|e| crate::error::user_error(format!("{}: {e}", root.join(label_rel).display())))?;
    s.metadata_files.push((label_rel.to_string(), root.join(label_rel)));
    let partition = match PARTITION_FILES.iter().find(|f| root.join(f).is_file()) {
        Some(f) => {
            s.metadata_files.push((f.to_string(), root.join(f)));
            read_partition(&std::fs::read_to_string(root.join(f)).unwrap_or_default())
        }
        None => BTreeMap::new(),
    };

    let table = csv::parse(&text, &root.join(label_rel))
        .map_err(|e| crate::error::user_error(format!("corpus \"{}\": {e:#}", corpus.name)))?;
    let header = &table.header;
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(c_file), Some(c_class)) = (col("FileName"), col("EmoClass")) else {
        return Err(crate::error::user_error(format!(
            "{}:1: header must name FileName and EmoClass (found: {})",
            root.join(label_rel).display(),
            crate::util::csv::show_header(header)
        )));
    };
    let (c_act, c_val, c_dom, c_spk, c_gender, c_split) =
        (col("EmoAct"), col("EmoVal"), col("EmoDom"), col("SpkrID"), col("Gender"), col("Split_Set"));
    let mut seen = BTreeSet::new();
    for row in &table.rows {
        let (f, line) = (&row.fields, row.line);
        let get = |c: Option<usize>| c.and_then(|c| f.get(c)).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let Some(file) = get(Some(c_file)) else {
            s.faults.push(file_fault(&corpus.name, format!("{label_rel}:{line}"), "malformed line", "no FileName"));
            continue;
        };
        if f.len() < header.len() {
            s.faults.push(file_fault(
                &corpus.name,
                format!("{label_rel}:{line}"),
                "malformed line",
                format!("{} fields, the header has {}", f.len(), header.len()),
            ));
            continue;
        }
        if !seen.insert(file.clone()) {
            s.faults.push(file_fault(&corpus.name, format!("{label_rel}:{line}"), "duplicate utterance", file));
            continue;
        }
        let stem = file.trim_end_matches(".wav").to_string();
        let mut u = Utterance::new(&corpus.name, &stem, root, format!("Audios/{file}"));
        u.native_label = get(Some(c_class)).unwrap_or_default();
        u.speaker = match get(c_spk) {
            Some(sp) if !sp.eq_ignore_ascii_case("unknown") => sp,
            _ => "unknown".into(),
        };
        u.gender = match get(c_gender).map(|g| g.to_ascii_lowercase()) {
            Some(g) if g == "female" || g == "male" => g,
            _ => "unknown".into(),
        };
        u.arousal = get(c_act).and_then(|v| v.parse().ok());
        u.valence = get(c_val).and_then(|v| v.parse().ok());
        u.dominance = get(c_dom).and_then(|v| v.parse().ok());
        u.native_split = get(c_split).or_else(|| partition.get(&file).cloned());
        if u.native_split.is_none() {
            s.faults.push(file_fault(
                &corpus.name,
                &u.rel_path,
                "no partition",
                "neither Split_Set nor the partition file names it",
            ));
        }
        s.utterances.push(u);
    }
    let labelled: BTreeSet<&str> = s.utterances.iter().map(|u| u.rel_path.as_str()).collect();
    let mut unlabelled = Vec::new();
    if let Ok(names) = list_dir(&root.join("Audios"), Entries::All) {
        for n in names {
            let rel = format!("Audios/{n}");
            if n.ends_with(".wav") && !n.starts_with("._") && !labelled.contains(rel.as_str()) {
                unlabelled.push(file_fault(
                    &corpus.name,
                    rel,
                    "unlabeled audio",
                    format!("no row of {label_rel} names this file"),
                ));
            }
        }
    }
    s.faults.extend(unlabelled);
    Ok(s)
}
