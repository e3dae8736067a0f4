//! RAVDESS: `Actor_XX/MM-VV-EE-II-SS-RR-AA.wav` (modality, vocal channel, emotion, intensity,
//! statement, repetition, actor); odd actors are male. Songs are dropped: the label map is for speech.

use crate::config::Corpus;
use crate::util::fs::find_files;

use super::{file_fault, Scan, Utterance};

pub const EMOTIONS: [&str; 8] = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];

/// (vocal channel, emotion name, actor number) of a RAVDESS file name, or why it is not one.
pub fn parse_name(name: &str) -> Result<(u32, &'static str, u32), String> {
    let stem = name.strip_suffix(".wav").ok_or("does not end in .wav")?;
    let parts: Vec<u32> = stem
        .split('-')
        .map(|p| p.parse::<u32>().map_err(|_| format!("\"{p}\" is not a number")))
        .collect::<Result<_, _>>()?;
    if parts.len() != 7 {
        return Err("expected seven two-digit fields MM-VV-EE-II-SS-RR-AA".into());
    }
    let emotion =
        *EMOTIONS.get(parts[2].wrapping_sub(1) as usize).ok_or(format!("emotion {:02} is not 01..08", parts[2]))?;
    Ok((parts[1], emotion, parts[6]))
}

pub fn scan(corpus: &Corpus) -> anyhow::Result<Scan> {
    let mut s = Scan::new(&corpus.name);
    let files = find_files(&corpus.root, "", ".wav");
    if files.is_empty() {
        return Err(crate::error::user_error(format!(
            "corpus \"{}\": no Actor_XX/*.wav under {}",
            corpus.name,
            corpus.root.display()
        )));
    }
    for rel in files {
        let name = rel.rsplit('/').next().unwrap_or(&rel).to_string();
        match parse_name(&name) {
            Ok((channel, emotion, actor)) => {
                let mut u = Utterance::new(&corpus.name, name.trim_end_matches(".wav"), &corpus.root, rel);
                u.speaker = format!("{actor:02}");
                u.gender = if actor % 2 == 1 { "male" } else { "female" }.into();
                u.native_label = emotion.into();
                if channel == 2 {
                    u.drop_reason = Some(super::NOT_SPEECH.into());
                }
                s.utterances.push(u);
            }
            Err(why) => s.faults.push(file_fault(&corpus.name, rel, "unrecognised file name", why)),
        }
    }
    Ok(s)
}
