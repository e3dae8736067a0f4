//! IEMOCAP: consensus labels from `Session{1..5}/dialog/EmoEvaluation/<dialog>.txt`, audio from
//! `Session{n}/sentences/wav/<dialog>/<utt>.wav`, transcripts from `dialog/transcriptions/<dialog>.txt`.
//!
//! The speaker is the session plus the letter of the utterance id's LAST token (`Ses01F_impro01_M003`
//! is the male speaker of session 1): the letter in `Ses01F` names the dialog's first speaker, not this
//! one's. Ids are split with `rsplit`, so irregular dialogs such as `Ses05M_script01_1b` parse too.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Corpus;
use crate::util::fs::{find_files, list_dir, Entries};

use super::{file_fault, Scan, Utterance};

/// The parts of an utterance id: (dialog, session number, speaker letter 'F' or 'M').
pub fn parse_id(id: &str) -> Result<(String, u32, char), String> {
    let (dialog, last) = id.rsplit_once('_').ok_or("expected <dialog>_<F|M><3 digits>")?;
    let mut chars = last.chars();
    let letter = chars.next().ok_or("empty speaker token")?;
    if !(letter == 'F' || letter == 'M') || last.len() != 4 || !chars.all(|c| c.is_ascii_digit()) {
        return Err(format!("speaker token \"{last}\" is not F or M and three digits"));
    }
    let session = dialog
        .strip_prefix("Ses0")
        .and_then(|r| r.chars().next())
        .and_then(|c| c.to_digit(10))
        .filter(|n| (1..=5).contains(n))
        .ok_or_else(|| format!("dialog \"{dialog}\" does not start with Ses01..Ses05"))?;
    Ok((dialog.to_string(), session, letter))
}

/// One labelled turn of an EmoEvaluation file.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub id: String,
    pub code: String,
    pub vad: Option<(f64, f64, f64)>,
}

/// Parse an EmoEvaluation file: the header line, then blocks whose first line is
/// `[start - end]<TAB>id<TAB>code<TAB>[v, a, d]`, followed by rater lines (ignored).
/// Returns the turns and, for malformed block lines, (line number, what was expected).
pub fn parse_evaluation(text: &str) -> (Vec<Turn>, Vec<(usize, String)>) {
    let mut turns = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if !line.starts_with('[') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            bad.push((i + 1, "expected [start - end]<TAB>utterance<TAB>code<TAB>[V, A, D]".to_string()));
            continue;
        }
        let vad = f.get(3).and_then(|v| {
            let nums: Vec<f64> = v
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect();
            (nums.len() == 3).then(|| (nums[0], nums[1], nums[2]))
        });
        turns.push(Turn { id: f[1].trim().to_string(), code: f[2].trim().to_string(), vad });
    }
    (turns, bad)
}

pub fn scan(corpus: &Corpus) -> anyhow::Result<Scan> {
    let mut s = Scan::new(&corpus.name);
    let root = &corpus.root;
    let sessions: Vec<u32> = (1..=5).filter(|n| root.join(format!("Session{n}")).is_dir()).collect();
    if sessions.is_empty() {
        return Err(crate::error::user_error(format!(
            "corpus \"{}\": no Session1..Session5 folders under {} (is this IEMOCAP_full_release?)",
            corpus.name,
            root.display()
        )));
    }
    let mut seen = BTreeSet::new();
    for n in &sessions {
        let eval_dir = format!("Session{n}/dialog/EmoEvaluation");
        // Top-level *.txt only: Categorical/, Attribute/ and Self-evaluation/ hold per-rater files.
        let files: Vec<String> = list_dir(&root.join(&eval_dir), Entries::Files)
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.ends_with(".txt") && !n.starts_with("._"))
            .collect();
        for f in files {
            let rel = format!("{eval_dir}/{f}");
            let text = match super::read_text(&root.join(&rel), &corpus.name, &rel, &mut s.faults) {
                Ok(t) => t,
                Err(e) => {
                    s.faults.push(file_fault(&corpus.name, &rel, "unreadable label file", e.to_string()));
                    continue;
                }
            };
            s.metadata_files.push((rel.clone(), root.join(&rel)));
            let (turns, bad) = parse_evaluation(&text);
            for (line, what) in bad {
                s.faults.push(file_fault(&corpus.name, format!("{rel}:{line}"), "malformed line", what));
            }
            for t in turns {
                let (dialog, session, letter) = match parse_id(&t.id) {
                    Ok(p) => p,
                    Err(why) => {
                        s.faults.push(file_fault(
                            &corpus.name,
                            &rel,
                            "malformed utterance id",
                            format!("{}: {why}", t.id),
                        ));
                        continue;
                    }
                };
                if !seen.insert(t.id.clone()) {
                    s.faults.push(file_fault(
                        &corpus.name,
                        &rel,
                        "duplicate utterance",
                        format!("{} is labelled twice", t.id),
                    ));
                    continue;
                }
                let wav = format!("Session{session}/sentences/wav/{dialog}/{}.wav", t.id);
                let mut u = Utterance::new(&corpus.name, &t.id, root, wav);
                u.speaker = format!("Ses0{session}_{letter}");
                u.gender = if letter == 'F' { "female" } else { "male" }.into();
                u.native_label = t.code.clone();
                u.native_split = Some(session.to_string());
                if let Some((v, a, d)) = t.vad {
                    (u.valence, u.arousal, u.dominance) = (Some(v), Some(a), Some(d));
                }
                s.utterances.push(u);
            }
        }
    }
    // Transcripts: `<id> [start-end]: text`; lines without an id (`M: Yeah.`) or with an unlabelled id
    // are not utterances of the manifest.
    let mut transcripts: BTreeMap<String, String> = BTreeMap::new();
    for n in &sessions {
        for rel in find_files(root, &format!("Session{n}/dialog/transcriptions"), ".txt") {
            let Ok(text) = std::fs::read(root.join(&rel)) else { continue };
            for line in String::from_utf8_lossy(&text).lines() {
                let Some((head, text)) = line.split_once("]:") else { continue };
                let id = head.split_whitespace().next().unwrap_or("");
                if seen.contains(id) {
                    transcripts.insert(id.to_string(), text.trim().to_string());
                }
            }
        }
    }
    for u in &mut s.utterances {
        let native = u.id.rsplit_once('/').map_or(u.id.as_str(), |(_, n)| n).to_string();
        u.transcript = transcripts.remove(&native);
    }
    // Audio present but labelled nowhere.
    let labelled: BTreeSet<&str> = s.utterances.iter().map(|u| u.rel_path.as_str()).collect();
    let mut unlabelled = Vec::new();
    for n in &sessions {
        for rel in find_files(root, &format!("Session{n}/sentences/wav"), ".wav") {
            if !labelled.contains(rel.as_str()) {
                unlabelled.push(file_fault(
                    &corpus.name,
                    rel,
                    "unlabeled audio",
                    "no EmoEvaluation line names this file",
                ));
            }
        }
    }
    s.faults.extend(unlabelled);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaker_comes_from_the_last_token() {
        assert_eq!(parse_id("Ses01F_impro01_M003").unwrap(), ("Ses01F_impro01".into(), 1, 'M'));
        assert_eq!(parse_id("Ses05M_script01_1b_F012").unwrap(), ("Ses05M_script01_1b".into(), 5, 'F'));
        assert!(parse_id("Ses03F_impro05_MXX0").is_err());
        assert!(parse_id("Ses07F_impro01_F000").is_err());
    }

    #[test]
    fn evaluation_blocks_parse_and_rater_lines_are_ignored() {
        let text = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n\
                    [6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n\
                    C-E2:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n\
                    [10.01 - 11.3]\tSes01F_impro01_M000\txxx\t[2.0, 3.5, 3.0]\n\
                    [broken line\n";
        let (turns, bad) = parse_evaluation(text);
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[0].vad, Some((2.5, 2.5, 2.5)));
        assert_eq!(turns[1].code, "xxx");
        assert_eq!(bad, vec![(8, "expected [start - end]<TAB>utterance<TAB>code<TAB>[V, A, D]".to_string())]);
    }
}
