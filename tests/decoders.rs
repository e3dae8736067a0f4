//! FLAC, Ogg Vorbis and MP3 decoding against libsndfile (tools/compressed_audio_fixtures.py wrote the
//! files, from espeak-ng speech, and what libsndfile decodes of them): FLAC to the bit, the lossy
//! formats by length, level and waveform.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sertool::audio::{audio_info, read_audio_with, ChannelPolicy};
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audio")
}

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("decoded_reference.json")).unwrap()).unwrap()
}

/// Pearson correlation of `a` and `b` over their common length.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ma, mb) = (a.iter().sum::<f64>() / n as f64, b.iter().sum::<f64>() / n as f64);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma) * (x - ma)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb) * (y - mb)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn decoders_agree_with_libsndfile() {
    let files = reference()["files"].as_object().unwrap().clone();
    assert_eq!(files.len(), 6);
    for (name, want) in &files {
        let path = fixtures().join(name);
        let info = audio_info(&path).unwrap();
        let (rate, channels) = (want["sample_rate"].as_u64().unwrap(), want["channels"].as_u64().unwrap());
        assert_eq!((info.sample_rate as u64, info.channels as u64), (rate, channels), "{name}");
        let mono = read_audio_with(&path, ChannelPolicy::Mean).unwrap();
        let frames = want["frames"].as_u64().unwrap() as usize;
        if name.ends_with(".flac") {
            assert_eq!(info.frames as usize, frames, "{name}");
            let planes: Vec<Vec<f32>> =
                (0..channels as u16).map(|c| read_audio_with(&path, ChannelPolicy::Pick(c)).unwrap().samples).collect();
            let mut pcm = Vec::with_capacity(frames * 2 * channels as usize);
            for i in 0..frames {
                for p in &planes {
                    let v = p[i] * 32768.0;
                    assert_eq!(v, v.round(), "{name}: sample {i} is not a 16-bit value");
                    pcm.extend((v as i16).to_le_bytes());
                }
            }
            let sha: String = Sha256::digest(&pcm).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(sha, want["sha256_i16_interleaved_le"].as_str().unwrap(), "{name}");
            continue;
        }
        // Lossy: the same length (both trim the encoder's delay and padding), level and waveform.
        assert_eq!(mono.samples.len(), frames, "{name}");
        let rms = (planes_ms(&path, channels as u16) / channels as f64).sqrt();
        assert!((rms / want["rms"].as_f64().unwrap() - 1.0).abs() < 0.01, "{name}: rms {rms} vs {}", want["rms"]);
        let theirs: Vec<f64> = want["mono_every_128"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let ours: Vec<f64> = mono.samples.iter().step_by(128).map(|&v| v as f64).collect();
        assert_eq!(ours.len(), theirs.len(), "{name}");
        let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 2e-3, "{name}: samples differ by up to {worst}");
        assert!(correlation(&ours, &theirs) > 0.9999, "{name}");
    }
}

/// Sum over channels of each channel's mean square.
fn planes_ms(path: &Path, channels: u16) -> f64 {
    (0..channels)
        .map(|c| {
            let x = read_audio_with(path, ChannelPolicy::Pick(c)).unwrap().samples;
            x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64
        })
        .sum()
}
