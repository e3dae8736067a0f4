//! The synthesiser: small emotion corpora in the CREMA-D layout and a folder of noises, made by
//! source-filter synthesis, deterministic from a seed.
//!
//! Emotion shapes prosody the way the SER literature describes it: F0 level and range, speaking rate,
//! energy and spectral tilt (anger: high, loud, bright; sadness: low, flat, slow, soft, dark). Two corpora
//! differ in actors, sample rate (16 kHz / 22.05 kHz), channel colouring and how strongly their actors
//! express emotion, so a model trained on one loses accuracy on the other, as real cross-corpus work does.

pub mod flac;
mod layouts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::audio::write_wav16;
use crate::rng::Rng;

use super::cremad::SENTENCES;

/// One synthetic corpus in the CREMA-D layout.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    pub dir_name: &'static str,
    pub first_actor: u32,
    pub actors: u32,
    pub sample_rate: u32,
    /// Scales every emotion effect (1 = as in corpus A).
    pub expressiveness: f64,
    /// One-pole low-pass coefficient of the recording channel (0 = none: bright; larger = duller).
    pub channel_lowpass: f64,
    /// Level of the channel's mains hum relative to full scale.
    pub hum: f64,
    /// Standard deviation of the room's noise floor (about -50 dBFS: real recordings are never silent).
    pub noise_floor: f64,
    pub seed_name: &'static str,
}

pub fn default_specs(actors: u32) -> Vec<CorpusSpec> {
    vec![
        CorpusSpec {
            dir_name: "cremad_a",
            first_actor: 1001,
            actors,
            sample_rate: 16_000,
            expressiveness: 1.0,
            channel_lowpass: 0.0,
            hum: 0.0,
            noise_floor: 3e-3,
            seed_name: "a",
        },
        CorpusSpec {
            dir_name: "cremad_b",
            first_actor: 1050,
            actors,
            sample_rate: 22_050,
            expressiveness: 0.75,
            channel_lowpass: 0.15,
            hum: 0.002,
            noise_floor: 2e-3,
            seed_name: "b",
        },
    ]
}

/// Emotion → (F0 factor, F0 range in semitones, rate factor, energy dB, source tilt coefficient).
fn emotion_params(emotion: &str) -> (f64, f64, f64, f64, f64) {
    match emotion {
        "NEU" => (1.00, 2.0, 1.00, 0.0, 0.65),
        "HAP" => (1.25, 7.0, 1.12, 3.0, 0.50),
        "ANG" => (1.30, 4.5, 1.18, 8.0, 0.30),
        "SAD" => (0.86, 1.0, 0.78, -6.0, 0.82),
        "FEA" => (1.40, 5.0, 1.25, 1.0, 0.55),
        "DIS" => (0.95, 3.0, 0.85, 1.0, 0.60),
        _ => (1.0, 2.0, 1.0, 0.0, 0.65),
    }
}

const VOWELS: [(f64, f64, f64); 5] = [
    (730.0, 1090.0, 2440.0),
    (270.0, 2290.0, 3010.0),
    (300.0, 870.0, 2240.0),
    (530.0, 1840.0, 2480.0),
    (570.0, 840.0, 2410.0),
];

/// A two-pole resonator with unit gain at DC.
struct Resonator {
    a1: f64,
    a2: f64,
    g: f64,
    y1: f64,
    y2: f64,
}

impl Resonator {
    fn new(freq: f64, bw: f64, sr: f64) -> Resonator {
        let r = (-std::f64::consts::PI * bw / sr).exp();
        let theta = 2.0 * std::f64::consts::PI * freq / sr;
        let a1 = 2.0 * r * theta.cos();
        let a2 = -r * r;
        Resonator { a1, a2, g: 1.0 - a1 - a2, y1: 0.0, y2: 0.0 }
    }

    fn tune(&mut self, freq: f64, bw: f64, sr: f64) {
        let r = (-std::f64::consts::PI * bw / sr).exp();
        let theta = 2.0 * std::f64::consts::PI * freq / sr;
        self.a1 = 2.0 * r * theta.cos();
        self.a2 = -r * r;
        self.g = 1.0 - self.a1 - self.a2;
    }

    fn step(&mut self, x: f64) -> f64 {
        let y = self.g * x + self.a1 * self.y1 + self.a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// A speaker's fixed traits.
#[derive(Debug, Clone)]
pub struct Speaker {
    pub f0: f64,
    pub formant_scale: f64,
    pub level_db: f64,
    pub female: bool,
}

pub fn speaker(seed: u64, corpus: &str, actor: u32) -> Speaker {
    let mut r = Rng::derived(seed, &["speaker", corpus, &actor.to_string()]);
    let female = actor.is_multiple_of(2);
    let f0 = if female { r.range(175.0, 245.0) } else { r.range(95.0, 140.0) };
    let formant_scale = if female { r.range(1.08, 1.18) } else { r.range(0.92, 1.02) };
    Speaker { f0, formant_scale, level_db: r.range(-3.0, 3.0), female }
}

/// Synthesise one utterance: `sentence` fixes the syllable and vowel sequence, `emotion` and `intensity`
/// the prosody, `rng` the natural variation of this take.
pub fn utterance(spk: &Speaker, sentence: &str, emotion: &str, intensity: f64, sr: u32, rng: &mut Rng) -> Vec<f32> {
    let sr_f = sr as f64;
    let (f0_mul, range_st, rate, energy_db, tilt) = emotion_params(emotion);
    let neutral = emotion_params("NEU");
    // Interpolate from neutral towards the emotion by intensity (log domain for ratios).
    let lerp = |n: f64, e: f64| n + (e - n) * intensity;
    let f0_mul = (lerp(neutral.0.ln(), f0_mul.ln())).exp() * (1.0 + 0.06 * rng.normal());
    let range_st = lerp(neutral.1, range_st).max(0.3) * (1.0 + 0.15 * rng.normal()).max(0.2);
    let rate = (lerp(neutral.2.ln(), rate.ln())).exp() * (1.0 + 0.06 * rng.normal());
    let energy_db = lerp(neutral.3, energy_db) + 1.5 * rng.normal() + spk.level_db;
    let tilt = lerp(neutral.4, tilt).clamp(0.05, 0.95);

    let mut srng = Rng::derived(0, &["sentence", sentence]);
    let n_syll = 5 + srng.below(5) as usize;
    let vowels: Vec<usize> = (0..n_syll).map(|_| srng.below(VOWELS.len() as u64) as usize).collect();

    let mut out = vec![0f32; (0.15 * sr_f) as usize];
    let base_f0 = spk.f0 * f0_mul;
    let mut phase = 0.0f64;
    let mut tilt1 = 0.0f64;
    let mut tilt2 = 0.0f64;
    let mut res =
        [Resonator::new(500.0, 80.0, sr_f), Resonator::new(1500.0, 100.0, sr_f), Resonator::new(2500.0, 140.0, sr_f)];
    let mut prev = 0.0f64;
    let total_syll = n_syll as f64;
    for (k, &v) in vowels.iter().enumerate() {
        // Consonant: a short burst of high-passed noise.
        let cons_len = ((0.05 + 0.03 * srng.uniform()) / rate * sr_f) as usize;
        let mut last = 0.0;
        for _ in 0..cons_len {
            let n = rng.normal() * 0.02;
            out.push((n - last) as f32);
            last = n;
        }
        // Vowel with an F0 contour: declination plus an accent whose size is the emotion's range.
        let dur = (0.12 + 0.08 * srng.uniform()) / rate;
        let len = (dur * sr_f) as usize;
        let pos = k as f64 / (total_syll - 1.0).max(1.0);
        let accent = (srng.uniform() * 2.0 - 1.0) * range_st / 2.0;
        let decl = range_st * (0.5 - pos) * 0.5;
        let f_start = base_f0 * 2f64.powf((decl + accent) / 12.0);
        let f_end = base_f0 * 2f64.powf((decl - range_st * 0.25 + 0.5 * accent) / 12.0);
        let (f1, f2, f3) = VOWELS[v];
        for (r, (f, bw)) in res.iter_mut().zip([(f1, 80.0), (f2, 100.0), (f3, 140.0)]) {
            let f = (f * spk.formant_scale).min(sr_f * 0.45);
            r.tune(f, bw, sr_f);
        }
        let ramp = (0.02 * sr_f) as usize;
        for i in 0..len {
            let t = i as f64 / len as f64;
            let f0 = f_start + (f_end - f_start) * t;
            phase += f0 / sr_f;
            let mut src = 0.0;
            if phase >= 1.0 {
                phase -= 1.0;
                src = 1.0;
            }
            src += 0.03 * rng.normal(); // aspiration
                                        // Spectral tilt: two one-pole low-passes on the glottal source.
            tilt1 = (1.0 - tilt) * src + tilt * tilt1;
            tilt2 = (1.0 - tilt) * tilt1 + tilt * tilt2;
            let mut y = tilt2;
            for r in res.iter_mut() {
                y = r.step(y);
            }
            // Lip radiation (first difference) and a raised-cosine envelope.
            let rad = y - prev;
            prev = y;
            let env = if i < ramp {
                0.5 - 0.5 * (std::f64::consts::PI * i as f64 / ramp as f64).cos()
            } else if i + ramp > len {
                0.5 - 0.5 * (std::f64::consts::PI * (len - i) as f64 / ramp as f64).cos()
            } else {
                1.0
            };
            out.push((rad * env) as f32);
        }
        // A pause between words now and then.
        if srng.uniform() < 0.3 {
            out.extend(std::iter::repeat_n(0f32, (0.06 / rate * sr_f) as usize));
        }
    }
    out.extend(std::iter::repeat_n(0f32, (0.15 * sr_f) as usize));
    // Level: -24 dBFS RMS for neutral, shifted by emotion and speaker; peak kept below full scale.
    let rms = crate::audio::power(&out).sqrt().max(1e-12);
    let target = 10f64.powf((-24.0 + energy_db) / 20.0);
    let mut g = target / rms;
    let peak = out.iter().fold(0f32, |m, v| m.max(v.abs())) as f64 * g;
    if peak > 0.95 {
        g *= 0.95 / peak;
    }
    out.iter_mut().for_each(|v| *v = (*v as f64 * g) as f32);
    out
}

/// The recording channel of a corpus: a low-pass colouring, mains hum and a faint noise floor.
fn channel(x: &mut [f32], spec: &CorpusSpec, rng: &mut Rng) {
    let mut lp = 0.0f64;
    let sr = spec.sample_rate as f64;
    for (i, v) in x.iter_mut().enumerate() {
        let s = *v as f64;
        lp = (1.0 - spec.channel_lowpass) * s + spec.channel_lowpass * lp;
        let hum = spec.hum * (2.0 * std::f64::consts::PI * 50.0 * i as f64 / sr).sin();
        *v = (lp + hum + spec.noise_floor * rng.normal()) as f32;
    }
}

/// What `synth` wrote, for tests and the command's summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SynthSummary {
    pub corpora: Vec<(String, usize)>,
    pub noise_files: usize,
    pub root: PathBuf,
}

/// What a synthesised corpus holds, counted by the synthesiser from what it wrote (not by the readers),
/// under the default 4-class label map and default split. Written to `<dir>/ground_truth/<corpus>.json`
/// so tests can compare manifests against it.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct GroundTruth {
    pub corpus: String,
    pub kind: String,
    /// Rows the manifest must have: every labelled utterance whose audio file exists.
    pub utterances: usize,
    /// unified label → speaker → count
    pub label_speaker: BTreeMap<String, BTreeMap<String, usize>>,
    /// unified label → split → count, where the layout fixes the split
    pub label_split: Option<BTreeMap<String, BTreeMap<String, usize>>>,
    /// CREMA-D with `label_source = "voice_vote"`: unified label → count
    pub voice_vote_labels: Option<BTreeMap<String, usize>>,
    pub dropped: usize,
    pub missing_audio: usize,
    pub unlabeled_audio: usize,
    pub empty_audio: usize,
}

impl GroundTruth {
    fn new(corpus: &str, kind: &str) -> GroundTruth {
        GroundTruth { corpus: corpus.into(), kind: kind.into(), ..Default::default() }
    }

    /// Count one labelled utterance (label None = dropped by the default map).
    fn add(&mut self, label: Option<&str>, speaker: &str, split: Option<&str>) {
        self.utterances += 1;
        let Some(l) = label else {
            self.dropped += 1;
            return;
        };
        *self.label_speaker.entry(l.into()).or_default().entry(speaker.into()).or_default() += 1;
        if let Some(sp) = split {
            *self
                .label_split
                .get_or_insert_with(BTreeMap::new)
                .entry(l.into())
                .or_default()
                .entry(sp.into())
                .or_default() += 1;
        }
    }

    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let p = dir.join("ground_truth");
        std::fs::create_dir_all(&p)?;
        std::fs::write(p.join(format!("{}.json", self.corpus)), serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }
}

/// Clips per actor: IEO at three intensities (NEU only XX), every other sentence at XX.
fn takes() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut v = Vec::new();
    for s in SENTENCES {
        for e in super::cremad::EMOTIONS {
            if s == "IEO" && e != "NEU" {
                for l in ["LO", "MD", "HI"] {
                    v.push((s, e, l));
                }
            } else {
                v.push((s, e, "XX"));
            }
        }
    }
    v
}

fn write_corpus(root: &Path, spec: &CorpusSpec, seed: u64) -> anyhow::Result<GroundTruth> {
    let audio = root.join("AudioWAV");
    std::fs::create_dir_all(&audio)?;
    std::fs::create_dir_all(root.join("processedResults"))?;
    let actors: Vec<u32> = (spec.first_actor..spec.first_actor + spec.actors).collect();
    let jobs: Vec<(u32, &str, &str, &str)> =
        actors.iter().flat_map(|&a| takes().into_iter().map(move |(s, e, l)| (a, s, e, l))).collect();
    use rayon::prelude::*;
    let last_actor = *actors.last().unwrap();
    let votes: Vec<(String, String)> = jobs
        .par_iter()
        .map(|&(actor, sentence, emotion, level)| -> anyhow::Result<(String, String)> {
            let name = format!("{actor}_{sentence}_{emotion}_{level}");
            let mut rng = Rng::derived(seed, &["take", spec.seed_name, &name]);
            let spk = speaker(seed, spec.seed_name, actor);
            let intensity = spec.expressiveness
                * match level {
                    "LO" => 0.5,
                    "MD" => 0.8,
                    "HI" => 1.2,
                    _ => 1.0,
                };
            let path = audio.join(format!("{name}.wav"));
            // CREMA-D's own defect: one labelled clip holds no audio (1076_MTI_SAD_XX in the real corpus).
            if actor == last_actor && sentence == "MTI" && emotion == "SAD" && spec.seed_name == "a" {
                write_wav16(&path, &[], spec.sample_rate)?;
            } else {
                let mut x = utterance(&spk, sentence, emotion, intensity, spec.sample_rate, &mut rng);
                channel(&mut x, spec, &mut rng);
                write_wav16(&path, &x, spec.sample_rate)?;
            }
            // Perceived voice vote: usually the acted emotion, sometimes another, sometimes a tie.
            let letter = |e: &str| match e {
                "ANG" => "A",
                "DIS" => "D",
                "FEA" => "F",
                "HAP" => "H",
                "NEU" => "N",
                _ => "S",
            };
            let u = rng.uniform();
            let other = super::cremad::EMOTIONS[rng.below(6) as usize];
            let (vote, lvl) = if u < 0.6 {
                (letter(emotion).to_string(), format!("{:.2}", rng.range(40.0, 90.0)))
            } else if u < 0.9 {
                (letter(other).to_string(), format!("{:.2}", rng.range(40.0, 90.0)))
            } else {
                (
                    format!("{}:{}", letter(emotion), letter(other)),
                    format!("{:.2}:{:.2}", rng.range(30.0, 60.0), rng.range(30.0, 60.0)),
                )
            };
            Ok((vote.clone(), format!("\"{name}\",\"{vote}\",\"{lvl}\",\"N\",\"50.00\",\"N\",\"50.00\"")))
        })
        .collect::<anyhow::Result<_>>()?;
    let unified = |code: &str| match code {
        "NEU" | "N" => Some("neutral"),
        "HAP" | "H" => Some("happy"),
        "ANG" | "A" => Some("angry"),
        "SAD" | "S" => Some("sad"),
        _ => None,
    };
    let mut truth = GroundTruth::new(spec.dir_name, "cremad");
    let mut voice = BTreeMap::new();
    for (&(actor, _, emotion, _), (vote, _)) in jobs.iter().zip(&votes) {
        truth.add(unified(emotion), &actor.to_string(), None);
        if let Some(l) = unified(vote).filter(|_| !vote.contains(':')) {
            *voice.entry(l.to_string()).or_insert(0) += 1;
        }
    }
    truth.voice_vote_labels = Some(voice);
    if spec.seed_name == "a" {
        truth.empty_audio = 1;
    }
    let mut summary = String::from("\"\",\"FileName\",\"VoiceVote\",\"VoiceLevel\",\"FaceVote\",\"FaceLevel\",\"MultiModalVote\",\"MultiModalLevel\"\n");
    for (i, (_, v)) in votes.iter().enumerate() {
        summary.push_str(&format!("\"{}\",{v}\n", i + 1));
    }
    std::fs::write(root.join("processedResults/summaryTable.csv"), summary)?;
    let mut demo = String::from("\"ActorID\",\"Age\",\"Sex\",\"Race\",\"Ethnicity\"\n");
    for (i, &a) in actors.iter().enumerate() {
        let spk = speaker(seed, spec.seed_name, a);
        let race = ["Caucasian", "African American", "Asian", "Unknown"][i % 4];
        let sex = if spk.female { "Female" } else { "Male" };
        demo.push_str(&format!("{a},{},\"{sex}\",\"{race}\",\"Not Hispanic\"\n", 20 + (a % 50)));
    }
    std::fs::write(root.join("VideoDemographics.csv"), demo)?;
    Ok(truth)
}

/// Noises for the noise pools: white, pink, babble (summed utterances of speakers outside both corpora)
/// and hum, of varied lengths (one shorter than an utterance, so tiling is exercised).
/// One synthetic noise: white, pink, babble (summed utterances of speakers outside every corpus), hum,
/// clicks, sparse (mostly silence: a test of silent-segment handling) or music (chords).
pub fn noise_signal(kind: &str, variant: u32, secs: f64, sr: u32, seed: u64) -> Vec<f32> {
    let mut rng = Rng::derived(seed, &["noise", kind, &variant.to_string()]);
    let len = (secs * sr as f64) as usize;
    let tau = 2.0 * std::f64::consts::PI;
    let mut x: Vec<f32> = match kind {
        "white" => (0..len).map(|_| rng.normal() as f32).collect(),
        "pink" => {
            // Paul Kellet's economy pink filter.
            let (mut b0, mut b1, mut b2) = (0.0, 0.0, 0.0);
            (0..len)
                .map(|_| {
                    let w = rng.normal();
                    b0 = 0.99765 * b0 + w * 0.0990460;
                    b1 = 0.96300 * b1 + w * 0.2965164;
                    b2 = 0.57000 * b2 + w * 1.0526913;
                    (b0 + b1 + b2 + w * 0.1848) as f32
                })
                .collect()
        }
        "babble" => {
            let mut acc = vec![0f32; len];
            for talker in 0..6 {
                let spk = speaker(seed, "babble", 2000 + talker + 10 * variant);
                let mut pos = (rng.uniform() * 0.5 * sr as f64) as usize;
                while pos < len {
                    let sent = SENTENCES[rng.below(12) as usize];
                    let emo = ["NEU", "HAP", "ANG", "SAD"][rng.below(4) as usize];
                    let u = utterance(&spk, sent, emo, 0.5, sr, &mut rng);
                    for (j, v) in u.iter().enumerate() {
                        if pos + j < len {
                            acc[pos + j] += v;
                        }
                    }
                    pos += u.len();
                }
            }
            acc
        }
        "clicks" => {
            let mut v: Vec<f32> = (0..len).map(|_| (0.01 * rng.normal()) as f32).collect();
            let mut t = 0;
            while t < len {
                v[t] = if rng.uniform() < 0.5 { 1.0 } else { -1.0 };
                t += 200 + rng.below(sr as u64 / 4) as usize;
            }
            v
        }
        "sparse" => {
            // Half a second of noise in the middle of silence.
            let mid = len / 2;
            (0..len).map(|t| if t.abs_diff(mid) < sr as usize / 4 { rng.normal() as f32 } else { 0.0 }).collect()
        }
        "music" => {
            let chord = [220.0, 277.18, 329.63].map(|f: f64| f * (1.0 + variant as f64 / 12.0));
            (0..len)
                .map(|t| {
                    let ts = t as f64 / sr as f64;
                    (chord.iter().map(|f| (tau * f * ts).sin()).sum::<f64>() * (1.0 + (tau * 2.0 * ts).sin()) * 0.3)
                        as f32
                })
                .collect()
        }
        _ => (0..len)
            .map(|t| {
                let ph = tau * 60.0 * t as f64 / sr as f64;
                (ph.sin() + 0.5 * (3.0 * ph).sin() + 0.25 * (5.0 * ph).sin() + 0.1 * rng.normal()) as f32
            })
            .collect(),
    };
    let peak = x.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-9);
    x.iter_mut().for_each(|v| *v *= 0.5 / peak);
    x
}

/// Noise corpora in their native layouts: MUSAN (noise/free-sound, noise/sound-bible, music, speech,
/// with ANNOTATIONS), DEMAND (environments × channels, 48 kHz), ESC-50 (5 folds × 3 categories,
/// 44.1 kHz, meta/esc50.csv) and WHAM! (tr/cv/tt). Returns how many files were written.
fn write_noise(dir: &Path, seed: u64) -> anyhow::Result<usize> {
    let mut n = 0;
    let mut put = |rel: &str, x: &[f32], sr: u32| -> anyhow::Result<()> {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap())?;
        write_wav16(&p, x, sr)?;
        n += 1;
        Ok(())
    };
    // MUSAN noise/free-sound: 4 each of white, pink, babble, hum; the fourth of each is 1 s (shorter
    // than an utterance: tiled).
    let mut annotations = String::new();
    for (k, kind) in ["white", "pink", "babble", "hum"].iter().enumerate() {
        for i in 0..4u32 {
            let secs = if i == 3 { 1.0 } else { 4.0 + 2.0 * i as f64 };
            let name = format!("noise-free-sound-{:04}", k * 4 + i as usize);
            put(&format!("musan/noise/free-sound/{name}.wav"), &noise_signal(kind, i, secs, 16_000, seed), 16_000)?;
            annotations.push_str(&format!("{name} synthetic {kind} noise\n"));
        }
    }
    std::fs::write(dir.join("musan/noise/free-sound/ANNOTATIONS"), annotations)?;
    for (i, kind) in ["clicks", "clicks", "sparse", "sparse"].iter().enumerate() {
        put(
            &format!("musan/noise/sound-bible/noise-sound-bible-{i:04}.wav"),
            &noise_signal(kind, i as u32, 5.0, 16_000, seed),
            16_000,
        )?;
    }
    for i in 0..3u32 {
        put(&format!("musan/music/fma/music-fma-{i:04}.wav"), &noise_signal("music", i, 6.0, 16_000, seed), 16_000)?;
    }
    for i in 0..2u32 {
        put(
            &format!("musan/speech/librivox/speech-librivox-{i:04}.wav"),
            &noise_signal("babble", 10 + i, 6.0, 16_000, seed),
            16_000,
        )?;
    }
    for env in ["DKITCHEN", "DLIVING", "TMETRO"] {
        for ch in 1..=2u32 {
            let kind = if env == "TMETRO" { "pink" } else { "hum" };
            let x = noise_signal(kind, ch + env.len() as u32, 3.0, 48_000, seed);
            put(&format!("demand/{env}/ch{ch:02}.wav"), &x, 48_000)?;
        }
    }
    let mut meta = String::from("filename,fold,target,category,esc10,src_file,take\n");
    for fold in 1..=5u32 {
        for (target, category, kind) in [(0, "dog", "clicks"), (10, "rain", "white"), (38, "clock_tick", "clicks")] {
            let name = format!("{fold}-{}-A-{target}.wav", 100 + fold * 7 + target);
            put(&format!("esc50/audio/{name}"), &noise_signal(kind, fold + target, 1.0, 44_100, seed), 44_100)?;
            meta.push_str(&format!("{name},{fold},{target},{category},False,{},A\n", 100 + fold * 7 + target));
        }
    }
    std::fs::create_dir_all(dir.join("esc50/meta"))?;
    std::fs::write(dir.join("esc50/meta/esc50.csv"), meta)?;
    for (split, count) in [("tr", 3u32), ("cv", 1), ("tt", 2)] {
        for i in 0..count {
            let kind = ["babble", "pink", "hum"][i as usize % 3];
            put(
                &format!("wham/wham_noise/{split}/0{i}{split}0{i}0a_{:.2}.wav", 0.5 + i as f64 / 10.0),
                &noise_signal(kind, 20 + i, 3.0, 16_000, seed),
                16_000,
            )?;
        }
    }
    Ok(n)
}

/// Write the built-in synthetic corpora and noises under `dir`.
pub fn synth_all(dir: &Path, seed: u64, actors: u32) -> anyhow::Result<SynthSummary> {
    anyhow::ensure!(actors >= 3, "--actors must be at least 3 (train, dev and test each need a speaker)");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut truths = Vec::new();
    for spec in default_specs(actors) {
        truths.push(
            write_corpus(&dir.join(spec.dir_name), &spec, seed)
                .with_context(|| format!("writing {}", dir.join(spec.dir_name).display()))?,
        );
    }
    truths.extend(layouts::write_all(dir, seed)?);
    let mut corpora = Vec::new();
    for t in &truths {
        t.write(dir)?;
        corpora.push((t.corpus.clone(), t.utterances));
    }
    let noise_files = write_noise(dir, seed)?;
    Ok(SynthSummary { corpora, noise_files, root: dir.to_path_buf() })
}

/// A large MSP-Podcast layout with tiny audio files, for ingestion at scale (`synth --msp-rows N`).
pub fn synth_msp_large(dir: &Path, rows: usize, seed: u64) -> anyhow::Result<SynthSummary> {
    let t = layouts::msp_large(&dir.join("msp_podcast_large"), rows, seed)?;
    t.write(dir)?;
    Ok(SynthSummary { corpora: vec![(t.corpus.clone(), t.utterances)], noise_files: 0, root: dir.to_path_buf() })
}
