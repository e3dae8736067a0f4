//! EmoDB (Berlin): `wav/<speaker 2><text 3><emotion letter><version>.wav`, e.g. `03a01Fa.wav`.
//! Letters: W anger, L boredom, E disgust, A fear, F happiness, T sadness, N neutral.

use crate::config::Corpus;
use crate::util::fs::find_files;

use super::{file_fault, Scan, Utterance};

const MALE: [&str; 5] = ["03", "10", "11", "12", "15"];
const FEMALE: [&str; 5] = ["08", "09", "13", "14", "16"];

/// (speaker, emotion letter) of an EmoDB file name, or why it is not one.
pub fn parse_name(name: &str) -> Result<(String, String), String> {
    let stem = name.strip_suffix(".wav").ok_or("does not end in .wav")?;
    let b = stem.as_bytes();
    // ASCII first: the checks below index bytes, and an accented name must be refused, not split.
    if b.len() != 7
        || !stem.is_ascii()
        || !b[..2].iter().all(u8::is_ascii_digit)
        || !b[3..5].iter().all(u8::is_ascii_digit)
    {
        return Err("expected <speaker 2 digits><text a01..b10><emotion letter><version>".into());
    }
    let letter = stem[5..6].to_string();
    if !"WLEAFTN".contains(&letter) {
        return Err(format!("emotion letter \"{letter}\" is not one of W L E A F T N"));
    }
    Ok((stem[..2].to_string(), letter))
}

pub fn scan(corpus: &Corpus) -> anyhow::Result<Scan> {
    let mut s = Scan::new(&corpus.name);
    let files = find_files(&corpus.root, "wav", ".wav");
    if files.is_empty() {
        return Err(crate::error::user_error(format!(
            "corpus \"{}\": no wav/*.wav under {}",
            corpus.name,
            corpus.root.display()
        )));
    }
    for rel in files {
        let name = rel.rsplit('/').next().unwrap_or(&rel).to_string();
        match parse_name(&name) {
            Ok((speaker, letter)) => {
                let mut u = Utterance::new(&corpus.name, name.trim_end_matches(".wav"), &corpus.root, rel);
                u.gender = if MALE.contains(&speaker.as_str()) {
                    "male"
                } else if FEMALE.contains(&speaker.as_str()) {
                    "female"
                } else {
                    "unknown"
                }
                .into();
                u.speaker = speaker;
                u.native_label = letter;
                s.utterances.push(u);
            }
            Err(why) => s.faults.push(file_fault(&corpus.name, rel, "unrecognised file name", why)),
        }
    }
    Ok(s)
}
