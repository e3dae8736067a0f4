//! Small corpora in the native layouts of IEMOCAP, MSP-Podcast (current and legacy naming), RAVDESS,
//! EmoDB and the generic CSV, with the real corpora's edge cases, and their ground truth.

use std::path::Path;

use rayon::prelude::*;

use super::{speaker, utterance, GroundTruth};
use crate::audio::write_wav16;
use crate::rng::Rng;

/// The prosody family of a native code (the synthesiser speaks CREMA-D's six emotions).
fn voice_of(unified: Option<&str>, native: &str) -> &'static str {
    match unified {
        Some("neutral") => "NEU",
        Some("happy") => "HAP",
        Some("angry") => "ANG",
        Some("sad") => "SAD",
        _ => match native.len() % 2 {
            0 => "FEA",
            _ => "DIS",
        },
    }
}

/// One clip to write: (relative path, speaker key for the voice, prosody, sample rate, channels).
struct Clip {
    rel: String,
    voice: (String, u32),
    emotion: &'static str,
    rate: u32,
    stereo: bool,
}

fn write_clips(root: &Path, clips: &[Clip], seed: u64) -> anyhow::Result<()> {
    clips.par_iter().try_for_each(|c| -> anyhow::Result<()> {
        let path = root.join(&c.rel);
        std::fs::create_dir_all(path.parent().unwrap())?;
        let mut rng = Rng::derived(seed, &["clip", &c.rel]);
        let spk = speaker(seed, &c.voice.0, c.voice.1);
        let sentence = super::super::cremad::SENTENCES[rng.below(12) as usize];
        let mut x = utterance(&spk, sentence, c.emotion, 1.0, c.rate, &mut rng);
        for v in x.iter_mut() {
            *v += (2e-3 * rng.normal()) as f32;
        }
        if c.stereo {
            let spec = hound::WavSpec {
                channels: 2,
                sample_rate: c.rate,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::create(&path, spec)?;
            for &s in &x {
                let v = (s.clamp(-1.0, 1.0) * 32767.0) as i16;
                w.write_sample(v)?;
                w.write_sample(v / 2)?;
            }
            w.finalize()?;
        } else if c.rel.ends_with(".flac") {
            let q: Vec<i16> = x.iter().map(|&s| crate::audio::quantize16(s)).collect();
            super::flac::write_flac16(&path, &q, 1, c.rate)?;
        } else {
            write_wav16(&path, &x, c.rate)?;
        }
        Ok(())
    })
}

fn iemocap_unified(code: &str) -> Option<&'static str> {
    match code {
        "neu" => Some("neutral"),
        "hap" | "exc" => Some("happy"),
        "ang" => Some("angry"),
        "sad" => Some("sad"),
        _ => None,
    }
}

/// IEMOCAP_full_release with five sessions, regular and irregular dialog names, `xxx` and other codes,
/// macOS `._` litter, per-rater subfolders, transcripts with lines that carry no id, one labelled turn
/// whose audio is missing and one audio file that no label names.
fn iemocap(dir: &Path, seed: u64) -> anyhow::Result<GroundTruth> {
    let root = dir.join("iemocap/IEMOCAP_full_release");
    let mut truth = GroundTruth::new("iemocap", "iemocap");
    let codes = ["neu", "hap", "exc", "ang", "sad", "fru", "xxx", "sur", "neu", "ang", "sad", "hap"];
    let mut clips = Vec::new();
    for n in 1..=5u32 {
        let mut dialogs = vec![format!("Ses0{n}F_impro01"), format!("Ses0{n}M_script01_1")];
        if n == 3 {
            dialogs.extend(["Ses03M_impro05a".to_string(), "Ses03M_impro05b".to_string()]);
        }
        if n == 5 {
            dialogs.push("Ses05M_script01_1b".to_string());
        }
        let sess = root.join(format!("Session{n}/dialog"));
        std::fs::create_dir_all(sess.join("EmoEvaluation/Categorical"))?;
        std::fs::create_dir_all(sess.join("transcriptions"))?;
        let split = match n {
            5 => "test",
            4 => "dev",
            _ => "train",
        };
        for (d, dialog) in dialogs.iter().enumerate() {
            let mut eval = String::from("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n");
            let mut trans = String::new();
            let mut t = 0.0;
            for k in 0..8usize {
                let letter = if k % 2 == 0 { 'F' } else { 'M' };
                let id = format!("{dialog}_{letter}{:03}", k / 2);
                let code = codes[(k + d + n as usize) % codes.len()];
                let (v, a, dm) = (1.5 + (k % 4) as f64, 2.0 + (k % 3) as f64, 2.5 + (k % 2) as f64);
                eval.push_str(&format!(
                    "[{t:.4} - {:.4}]\t{id}\t{code}\t[{v:.4}, {a:.4}, {dm:.4}]\nC-E2:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n",
                    t + 1.5
                ));
                trans.push_str(&format!("{id} [{t:08.4}-{:08.4}]: Synthetic line {k}.\n", t + 1.5));
                if k == 3 {
                    trans.push_str("M: Yeah.\n");
                }
                t += 2.0;
                let speaker = format!("Ses0{n}_{letter}");
                let unified = iemocap_unified(code);
                let missing = n == 2 && d == 0 && k == 5;
                if missing {
                    truth.missing_audio += 1;
                } else {
                    truth.add(unified, &speaker, Some(split));
                    clips.push(Clip {
                        rel: format!("Session{n}/sentences/wav/{dialog}/{id}.wav"),
                        voice: (format!("iemocap{n}"), if letter == 'F' { 2 } else { 1 }),
                        emotion: voice_of(unified, code),
                        rate: 16_000,
                        stereo: false,
                    });
                }
            }
            if n == 3 && d == 0 {
                trans.push_str("Ses03F_impro05_MXX0 [000.0000-001.0000]: A line with no label.\n");
            }
            std::fs::write(sess.join(format!("EmoEvaluation/{dialog}.txt")), eval)?;
            std::fs::write(sess.join(format!("transcriptions/{dialog}.txt")), trans)?;
            // A per-rater file that looks like labels but must be ignored.
            std::fs::write(
                sess.join(format!("EmoEvaluation/Categorical/{dialog}_e1_cat.txt")),
                format!("[0.0 - 1.0]\t{dialog}_F000\tang\t[1.0, 1.0, 1.0]\n"),
            )?;
        }
        std::fs::write(sess.join(format!("EmoEvaluation/._Ses0{n}F_impro01.txt")), [0u8, 5, 22, 7, 0, 2])?;
        if n == 4 {
            // Audio that no EmoEvaluation line names.
            truth.unlabeled_audio += 1;
            clips.push(Clip {
                rel: "Session4/sentences/wav/Ses04F_impro01/Ses04F_impro01_F099.wav".into(),
                voice: ("iemocap4".into(), 2),
                emotion: "NEU",
                rate: 16_000,
                stereo: false,
            });
        }
    }
    write_clips(&root, &clips, seed)?;
    Ok(truth)
}

fn msp_unified(code: &str) -> Option<&'static str> {
    match code {
        "N" => Some("neutral"),
        "H" => Some("happy"),
        "A" => Some("angry"),
        "S" => Some("sad"),
        _ => None,
    }
}

/// MSP-Podcast: `legacy` writes `labels_concensus.csv` without Split_Set, `Partition.txt` and the split
/// name `Validation`; the current form writes `labels_consensus.csv` with Split_Set and `Partitions.txt`.
fn msp(dir: &Path, name: &str, legacy: bool, seed: u64) -> anyhow::Result<GroundTruth> {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("Labels"))?;
    std::fs::create_dir_all(root.join("Audios"))?;
    let mut truth = GroundTruth::new(name, "msp_podcast");
    let classes = ["N", "H", "A", "S", "U", "F", "D", "C", "O", "X"];
    let dev_name = if legacy { "Validation" } else { "Development" };
    let mut csv = String::from(if legacy {
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender\n"
    } else {
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
    });
    let mut partition = String::new();
    let mut clips = Vec::new();
    for i in 0..72usize {
        let (split, native_split) = match i % 6 {
            0..=2 => ("train", "Train"),
            3 => ("dev", dev_name),
            _ => ("test", "Test1"),
        };
        // Speakers never cross splits; every ninth turn has an unknown speaker.
        let speaker = if i % 9 == 4 { "Unknown".to_string() } else { format!("{}", 100 + (i % 6) * 10 + (i / 6) % 3) };
        let code = classes[(i / 6) % classes.len()];
        let file = format!("MSP-PODCAST_{:04}_{:04}.wav", 1 + i / 10, i % 10 + 1);
        let gender = if i % 2 == 0 { "Female" } else { "Male" };
        let mut row = format!(
            "{file},{code},{:.1},{:.1},{:.1},{speaker},{gender}",
            1.0 + (i % 7) as f64,
            7.0 - (i % 7) as f64,
            4.0
        );
        if !legacy {
            row.push_str(&format!(",{native_split}"));
        }
        csv.push_str(&row);
        csv.push('\n');
        partition.push_str(&format!("{native_split}; {file}\n"));
        let unified = msp_unified(code);
        let spk_key = if speaker == "Unknown" { "unknown".to_string() } else { speaker.clone() };
        if i == 13 {
            truth.missing_audio += 1;
            continue;
        }
        truth.add(unified, &spk_key, Some(split));
        clips.push(Clip {
            rel: format!("Audios/{file}"),
            voice: (format!("msp{name}"), (i % 6) as u32 * 10 + (i as u32 / 6) % 3),
            emotion: voice_of(unified, code),
            rate: if i == 20 { 44_100 } else { 16_000 },
            stereo: i == 20,
        });
    }
    // A file the labels do not name.
    truth.unlabeled_audio += 1;
    clips.push(Clip {
        rel: "Audios/MSP-PODCAST_9999_0001.wav".into(),
        voice: ("msp".into(), 1),
        emotion: "NEU",
        rate: 16_000,
        stereo: false,
    });
    let label_file = if legacy { "labels_concensus.csv" } else { "labels_consensus.csv" };
    std::fs::write(root.join("Labels").join(label_file), csv)?;
    std::fs::write(root.join(if legacy { "Partition.txt" } else { "Partitions.txt" }), partition)?;
    std::fs::write(root.join("Speaker_ids.txt"), "Episode_0001; 100\n")?;
    write_clips(&root, &clips, seed)?;
    Ok(truth)
}

/// RAVDESS speech of four actors (plus one song file, dropped), 48 kHz.
fn ravdess(dir: &Path, seed: u64) -> anyhow::Result<GroundTruth> {
    let root = dir.join("ravdess");
    let mut truth = GroundTruth::new("ravdess", "ravdess");
    let names = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];
    let mut clips = Vec::new();
    for actor in 1..=4u32 {
        for (e, name) in names.iter().enumerate() {
            for intensity in 1..=2u32 {
                if e == 0 && intensity == 2 {
                    continue; // RAVDESS has no strong neutral
                }
                let rel = format!("Actor_{actor:02}/03-01-{:02}-{intensity:02}-01-01-{actor:02}.wav", e + 1);
                let unified = match *name {
                    "neutral" | "happy" | "angry" | "sad" => Some(*name),
                    _ => None,
                };
                truth.add(unified, &format!("{actor:02}"), None);
                clips.push(Clip {
                    rel,
                    voice: ("ravdess".into(), actor),
                    emotion: voice_of(unified, name),
                    rate: 48_000,
                    stereo: false,
                });
            }
        }
    }
    // A song: vocal channel 02.
    truth.add(None, "01", None);
    clips.push(Clip {
        rel: "Actor_01/03-02-03-01-01-01-01.wav".into(),
        voice: ("ravdess".into(), 1),
        emotion: "HAP",
        rate: 48_000,
        stereo: false,
    });
    write_clips(&root, &clips, seed)?;
    Ok(truth)
}

/// EmoDB: four speakers, two texts, all seven emotions.
fn emodb(dir: &Path, seed: u64) -> anyhow::Result<GroundTruth> {
    let root = dir.join("emodb");
    let mut truth = GroundTruth::new("emodb", "emodb");
    let mut clips = Vec::new();
    for spk in ["03", "08", "09", "10"] {
        for text in ["a01", "b02"] {
            for letter in ["W", "L", "E", "A", "F", "T", "N"] {
                let unified = match letter {
                    "N" => Some("neutral"),
                    "F" => Some("happy"),
                    "W" => Some("angry"),
                    "T" => Some("sad"),
                    _ => None,
                };
                truth.add(unified, spk, None);
                clips.push(Clip {
                    rel: format!("wav/{spk}{text}{letter}a.wav"),
                    voice: ("emodb".into(), spk.parse().unwrap()),
                    emotion: voice_of(unified, letter),
                    rate: 16_000,
                    stereo: false,
                });
            }
        }
    }
    write_clips(&root, &clips, seed)?;
    Ok(truth)
}

/// Real speech (espeak-ng) as re-distributions ship it, encoded by libsndfile
/// (tools/compressed_audio_fixtures.py): (file name in the corpus, bytes).
const COMPRESSED: [(&str, &[u8]); 6] = [
    ("tts0.ogg", include_bytes!("../../../tests/data/audio/tts_en_44k_stereo.ogg")),
    ("tts1.ogg", include_bytes!("../../../tests/data/audio/tts_de_48k_mono.ogg")),
    ("tts2.mp3", include_bytes!("../../../tests/data/audio/tts_en_44k_stereo.mp3")),
    ("tts3.mp3", include_bytes!("../../../tests/data/audio/tts_en_48k_mono.mp3")),
    ("tts4.flac", include_bytes!("../../../tests/data/audio/tts_en_22k_mono.flac")),
    ("tts5.flac", include_bytes!("../../../tests/data/audio/tts_fr_16k_stereo.flac")),
];

/// The generic CSV: `manifest.csv` (path,label,speaker,split,gender) and `audio/`, in mixed formats as
/// collected corpora are: WAV, FLAC (every clip k = 1, written by `flac.rs`) and one train speaker of
/// real TTS speech in Ogg Vorbis, MP3 and FLAC at 16–48 kHz, mono and stereo. Splits by speaker.
fn generic_csv(dir: &Path, seed: u64) -> anyhow::Result<GroundTruth> {
    let root = dir.join("generic_csv");
    let mut truth = GroundTruth::new("generic_csv", "csv");
    let mut csv = String::from("path,label,speaker,split,gender\n");
    let mut clips = Vec::new();
    let splits = ["train", "train", "dev", "test"];
    for (s, split) in splits.iter().enumerate() {
        for label in ["neutral", "happy", "angry", "sad", "bored"] {
            for k in 0..3 {
                let rel = format!("audio/spk{s}_{label}_{k}.{}", if k == 1 { "flac" } else { "wav" });
                csv.push_str(&format!("{rel},{label},spk{s},{split},{}\n", if s % 2 == 0 { "f" } else { "m" }));
                let unified = (label != "bored").then_some(label);
                truth.add(unified, &format!("spk{s}"), Some(split));
                clips.push(Clip {
                    rel,
                    voice: ("csv".into(), s as u32),
                    emotion: voice_of(unified, label),
                    rate: 16_000,
                    stereo: false,
                });
            }
        }
    }
    std::fs::create_dir_all(root.join("audio"))?;
    for (i, (name, bytes)) in COMPRESSED.iter().enumerate() {
        let label = ["neutral", "happy", "angry", "sad"][i % 4];
        csv.push_str(&format!("audio/{name},{label},tts,train,f\n"));
        truth.add(Some(label), "tts", Some("train"));
        std::fs::write(root.join("audio").join(name), bytes)?;
    }
    std::fs::write(root.join("manifest.csv"), csv)?;
    write_clips(&root, &clips, seed)?;
    Ok(truth)
}

pub fn write_all(dir: &Path, seed: u64) -> anyhow::Result<Vec<GroundTruth>> {
    Ok(vec![
        iemocap(dir, seed)?,
        msp(dir, "msp_podcast", false, seed)?,
        msp(dir, "msp_podcast_legacy", true, seed)?,
        ravdess(dir, seed)?,
        emodb(dir, seed)?,
        generic_csv(dir, seed)?,
    ])
}

/// MSP-Podcast at scale: `rows` label rows, tiny audio files (10 ms of noise each), official splits.
pub fn msp_large(root: &Path, rows: usize, seed: u64) -> anyhow::Result<GroundTruth> {
    std::fs::create_dir_all(root.join("Labels"))?;
    std::fs::create_dir_all(root.join("Audios"))?;
    let mut truth = GroundTruth::new("msp_podcast_large", "msp_podcast");
    let classes = ["N", "H", "A", "S", "U", "F", "D", "C", "O", "X"];
    let mut csv = String::with_capacity(rows * 64);
    csv.push_str("FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n");
    let mut meta = Vec::with_capacity(rows);
    for i in 0..rows {
        let (split, native) = match i % 10 {
            0..=6 => ("train", "Train"),
            7 => ("dev", "Development"),
            _ => ("test", "Test1"),
        };
        let speaker = (i % 10) * 1000 + (i / 10) % 500;
        let code = classes[(i * 7 + i / 13) % classes.len()];
        let file = format!("MSP-PODCAST_{:04}_{:04}.wav", i / 1000, i % 1000);
        csv.push_str(&format!("{file},{code},4.0,4.0,4.0,{speaker},Female,{native}\n"));
        truth.add(msp_unified(code), &speaker.to_string(), Some(split));
        meta.push(file);
    }
    std::fs::write(root.join("Labels/labels_consensus.csv"), csv)?;
    meta.par_iter().enumerate().try_for_each(|(i, file)| -> anyhow::Result<()> {
        let mut rng = Rng::derived(seed, &["tiny", &i.to_string()]);
        let x: Vec<f32> = (0..160).map(|_| (0.1 * rng.normal()) as f32).collect();
        write_wav16(&root.join("Audios").join(file), &x, 16_000)
    })?;
    Ok(truth)
}
