//! CREMA-D: `AudioWAV/<ActorID>_<Sentence>_<Emotion>_<Level>.wav` (or `AudioMP3/….mp3` with
//! `audio = "mp3"`) plus `VideoDemographics.csv` (sex per actor). The acted emotion in the file name is
//! the label.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::Corpus;
use crate::error::Fault;
use crate::util::csv::{self, Table};
use crate::util::fs::{list_dir, Entries};

use super::{file_fault, Scan, Utterance};

pub const SENTENCES: [&str; 12] = ["IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"];
pub const EMOTIONS: [&str; 6] = ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"];
pub const LEVELS: [&str; 4] = ["LO", "MD", "HI", "XX"];

/// The parts of a CREMA-D file name, or why it is not one
/// (`^\d{4}_[A-Z]{3}_[A-Z]{3}_(LO|MD|HI|XX)\.(wav|mp3)$`).
pub fn parse_name(name: &str) -> Result<(String, String, String, String), String> {
    let stem = name.strip_suffix(".wav").or_else(|| name.strip_suffix(".mp3")).ok_or("does not end in .wav")?;
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

/// A metadata CSV file, or a "missing metadata" fault saying what is lost without it.
fn read_metadata(path: &Path, corpus: &str, consequence: &str, faults: &mut Vec<Fault>) -> Option<Table> {
    let rel = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let text = match super::read_text(path, corpus, &rel, faults) {
        Ok(t) => t,
        Err(e) => {
            faults.push(file_fault(
                corpus,
                path.display().to_string(),
                "missing metadata",
                format!("{e}; {consequence}"),
            ));
            return None;
        }
    };
    match csv::parse(&text, path) {
        Ok(t) => Some(t),
        Err(e) => {
            faults.push(file_fault(
                corpus,
                path.display().to_string(),
                "malformed file",
                format!("{e:#}; {consequence}"),
            ));
            None
        }
    }
}

/// Actor id → (sex, age) from VideoDemographics.csv.
fn read_demographics(path: &Path, corpus: &str, faults: &mut Vec<Fault>) -> BTreeMap<String, (String, Option<u32>)> {
    let mut out = BTreeMap::new();
    let Some(table) = read_metadata(path, corpus, "gender and age left unknown", faults) else { return out };
    for row in &table.rows {
        let f = &row.fields;
        if f.len() < 3 {
            faults.push(file_fault(
                corpus,
                format!("VideoDemographics.csv:{}", row.line),
                "malformed line",
                "expected \"ActorID\",\"Age\",\"Sex\",\"Race\",\"Ethnicity\"",
            ));
            continue;
        }
        out.insert(f[0].clone(), (f[2].to_ascii_lowercase(), f[1].trim().parse().ok()));
    }
    out
}

/// File stem → perceived voice vote (a letter, or letters joined by ':' for a tie) from summaryTable.csv.
fn read_voice_votes(path: &Path, corpus: &str, faults: &mut Vec<Fault>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(table) = read_metadata(path, corpus, "no perceived labels", faults) else { return out };
    let (Some(fname), Some(vote)) = (table.column("FileName"), table.column("VoiceVote")) else {
        faults.push(file_fault(
            corpus,
            "processedResults/summaryTable.csv:1",
            "malformed header",
            "expected columns FileName and VoiceVote",
        ));
        return out;
    };
    for row in &table.rows {
        let f = &row.fields;
        if f.len() <= fname.max(vote) {
            faults.push(file_fault(
                corpus,
                format!("processedResults/summaryTable.csv:{}", row.line),
                "malformed line",
                "fewer fields than the header",
            ));
            continue;
        }
        out.insert(f[fname].clone(), f[vote].clone());
    }
    out
}

fn vote_code(letter: &str) -> Option<&'static str> {
    Some(match letter {
        "A" => "ANG",
        "D" => "DIS",
        "F" => "FEA",
        "H" => "HAP",
        "N" => "NEU",
        "S" => "SAD",
        _ => return None,
    })
}

pub fn scan(corpus: &Corpus) -> anyhow::Result<Scan> {
    let mut s = Scan::new(&corpus.name);
    let (folder, ext) = if corpus.audio == "mp3" { ("AudioMP3", ".mp3") } else { ("AudioWAV", ".wav") };
    let audio_dir = corpus.root.join(folder);
    let names = list_dir(&audio_dir, Entries::All).map_err(|e| {
        let hint = if folder == "AudioWAV" && corpus.root.join("AudioMP3").is_dir() {
            "; this copy has AudioMP3: set audio = \"mp3\" in the corpus table"
        } else {
            " (is this a CREMA-D folder?)"
        };
        crate::error::user_error(format!("corpus \"{}\": cannot list {}: {e}{hint}", corpus.name, audio_dir.display()))
    })?;
    let demo_path = corpus.root.join("VideoDemographics.csv");
    let demographics = read_demographics(&demo_path, &corpus.name, &mut s.faults);
    s.metadata_files.push(("VideoDemographics.csv".into(), demo_path));
    let votes = if corpus.label_source == "voice_vote" {
        let p = corpus.root.join("processedResults/summaryTable.csv");
        let v = read_voice_votes(&p, &corpus.name, &mut s.faults);
        s.metadata_files.push(("processedResults/summaryTable.csv".into(), p));
        Some(v)
    } else {
        None
    };

    for name in names {
        if name.starts_with("._") || !name.to_ascii_lowercase().ends_with(ext) {
            continue;
        }
        let (actor, _sentence, emotion, _level) = match parse_name(&name) {
            Ok(p) => p,
            Err(why) => {
                s.faults.push(file_fault(&corpus.name, format!("{folder}/{name}"), "unrecognised file name", why));
                continue;
            }
        };
        let stem = crate::audio::decode::strip_audio_ext(&name);
        let mut u = Utterance::new(&corpus.name, stem, &corpus.root, format!("{folder}/{name}"));
        u.speaker = actor.clone();
        if let Some((sex, age)) = demographics.get(&actor) {
            u.gender = sex.clone();
            u.age = *age;
        }
        u.native_label = emotion;
        if let Some(votes) = &votes {
            match votes.get(stem).map(String::as_str) {
                None => u.drop_reason = Some("no perceived vote in summaryTable.csv".into()),
                Some(v) if v.contains(':') => u.drop_reason = Some(format!("tied perceived vote \"{v}\"")),
                Some(v) => match vote_code(v) {
                    Some(code) => u.native_label = code.to_string(),
                    None => u.drop_reason = Some(format!("unknown vote letter \"{v}\"")),
                },
            }
        }
        s.utterances.push(u);
    }
    Ok(s)
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
        let demographics = r#"1001,51,"Male","Caucasian","Not Hispanic""#;
        assert_eq!(csv::parse(demographics, Path::new("VideoDemographics.csv")).unwrap().header[2], "Male");
    }
}
