//! CREMA-D: `AudioWAV/<ActorID>_<Sentence>_<Emotion>_<Level>.wav` plus `VideoDemographics.csv`
//! (sex per actor). The acted emotion in the file name is the label.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::Corpus;
use crate::engine::fingerprint::Fingerprints;
use crate::error::Fault;

use super::{Scan, Utterance};

pub const SENTENCES: [&str; 12] = ["IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"];
pub const EMOTIONS: [&str; 6] = ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"];
pub const LEVELS: [&str; 4] = ["LO", "MD", "HI", "XX"];

/// The parts of a CREMA-D file name, or why it is not one
/// (`^\d{4}_[A-Z]{3}_[A-Z]{3}_(LO|MD|HI|XX)\.wav$`).
pub fn parse_name(name: &str) -> Result<(String, String, String, String), String> {
    let stem = name.strip_suffix(".wav").ok_or("does not end in .wav")?;
    let parts: Vec<&str> = stem.split('_').collect();
    if parts.len() != 4 {
        return Err("expected <ActorID>_<Sentence>_<Emotion>_<Level>.wav".into());
    }
    let (actor, sentence, emotion, level) = (parts[0], parts[1], parts[2], parts[3]);
    if actor.len() != 4 || !actor.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("actor id \"{actor}\" is not 4 digits"));
    }
    let upper3 = |s: &str| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase());
    if !upper3(sentence) || !upper3(emotion) {
        return Err("sentence and emotion must be 3 capital letters".into());
    }
    if !LEVELS.contains(&level) {
        return Err(format!("level \"{level}\" is not one of LO, MD, HI, XX"));
    }
    Ok((actor.into(), sentence.into(), emotion.into(), level.into()))
}

/// Minimal CSV field splitter for the corpus's quoted, comma-separated files.
pub fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches(['\r', '\n']).chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn read_sexes(path: &Path, corpus: &str, faults: &mut Vec<Fault>) -> BTreeMap<String, String> {
    let mut sexes = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        faults.push(Fault {
            corpus: corpus.into(),
            utterance: String::new(),
            file: path.display().to_string(),
            what: "missing metadata".into(),
            detail: "VideoDemographics.csv not found; gender left unknown".into(),
        });
        return sexes;
    };
    for (i, line) in text.lines().enumerate().skip(1) {
        let f = csv_fields(line);
        if line.trim().is_empty() {
            continue;
        }
        if f.len() < 3 {
            faults.push(Fault {
                corpus: corpus.into(),
                utterance: String::new(),
                file: format!("{}:{}", path.display(), i + 1),
                what: "malformed line".into(),
                detail: "expected \"ActorID\",\"Age\",\"Sex\",\"Race\",\"Ethnicity\"".into(),
            });
            continue;
        }
        sexes.insert(f[0].clone(), f[2].to_ascii_lowercase());
    }
    sexes
}

pub fn scan(corpus: &Corpus, fp: &Fingerprints) -> anyhow::Result<Scan> {
    let mut faults = Vec::new();
    let audio_dir = corpus.root.join("AudioWAV");
    let rd = std::fs::read_dir(&audio_dir).map_err(|e| {
        crate::error::user_error(format!(
            "corpus \"{}\": cannot list {}: {e} (is this a CREMA-D folder?)",
            corpus.name,
            audio_dir.display()
        ))
    })?;
    let mut names: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let demo_path = corpus.root.join("VideoDemographics.csv");
    let sexes = read_sexes(&demo_path, &corpus.name, &mut faults);
    let mut metadata_hashes = BTreeMap::new();
    if let Ok(h) = fp.content_hash(&demo_path) {
        metadata_hashes.insert("VideoDemographics.csv".to_string(), h);
    }

    let mut utterances = Vec::new();
    for name in names {
        if name.starts_with("._") || !name.to_ascii_lowercase().ends_with(".wav") {
            continue;
        }
        let (actor, _sentence, emotion, _level) = match parse_name(&name) {
            Ok(p) => p,
            Err(why) => {
                faults.push(Fault {
                    corpus: corpus.name.clone(),
                    utterance: String::new(),
                    file: format!("AudioWAV/{name}"),
                    what: "unrecognised file name".into(),
                    detail: why,
                });
                continue;
            }
        };
        let stem = name.trim_end_matches(".wav");
        utterances.push(Utterance {
            id: format!("{}/{stem}", corpus.name),
            rel_path: format!("AudioWAV/{name}"),
            path: audio_dir.join(&name),
            speaker: actor.clone(),
            gender: sexes.get(&actor).cloned().unwrap_or_else(|| "unknown".into()),
            label: corpus.label_map.get(&emotion).cloned(),
            native_label: emotion,
            split: String::new(),
            content_hash: String::new(),
        });
    }
    let paths: Vec<_> = utterances.iter().map(|u| u.path.clone()).collect();
    for (u, h) in utterances.iter_mut().zip(fp.content_hashes(&paths)) {
        match h {
            Ok(h) => u.content_hash = h,
            Err(e) => faults.push(Fault {
                corpus: corpus.name.clone(),
                utterance: u.id.clone(),
                file: u.rel_path.clone(),
                what: "unreadable file".into(),
                detail: e.to_string(),
            }),
        }
    }
    utterances.retain(|u| !u.content_hash.is_empty());
    Ok(Scan { corpus: corpus.name.clone(), utterances, faults, metadata_hashes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_or_say_why() {
        assert_eq!(parse_name("1001_DFA_ANG_XX.wav").unwrap().2, "ANG");
        assert!(parse_name("1001_DFA_ANG_XY.wav").unwrap_err().contains("level"));
        assert!(parse_name("101_DFA_ANG_XX.wav").unwrap_err().contains("4 digits"));
        assert!(parse_name("notes.txt").is_err());
        assert_eq!(csv_fields(r#"1001,51,"Male","Caucasian","Not Hispanic""#)[2], "Male");
    }
}
