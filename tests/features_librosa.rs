//! Parity with librosa: STFT magnitude, mel filterbanks (Slaney and HTK), log-mel and MFCC on a chirp,
//! noise and a synthetic vowel. Reference values come from tools/librosa_reference.py (committed JSON).

use sertool::features::LogMelConfig;
use sertool::features::{mel_filterbank_with, mfcc, LogMel};

fn reference() -> serde_json::Value {
    serde_json::from_str(include_str!("data/librosa_reference.json")).unwrap()
}

/// The same formulas as the Python script, in f64 rounded to f32.
fn signal(name: &str) -> Vec<f32> {
    let (sr, n) = (16_000.0, 8_000usize);
    let t = |i: usize| i as f64 / sr;
    let pi = std::f64::consts::PI;
    match name {
        "chirp" => (0..n)
            .map(|i| (0.5 * (2.0 * pi * (100.0 * t(i) + (7000.0 - 100.0) / (2.0 * 0.5) * t(i).powi(2))).sin()) as f32)
            .collect(),
        "noise" => {
            let mut state: u64 = 12345;
            (0..n)
                .map(|_| {
                    state = (1664525 * state + 1013904223) % (1 << 32);
                    (0.5 * (state as f64 / 4294967296.0 - 0.5)) as f32
                })
                .collect()
        }
        _ => {
            let raw: Vec<f64> = (0..n)
                .map(|i| {
                    (1..40)
                        .map(|k| {
                            let f = k as f64 * 150.0;
                            (1.0 / k as f64)
                                * (1.0 + 2.0 * (-(f - 700.0).powi(2) / 2e4).exp() + (-(f - 1200.0).powi(2) / 2e4).exp())
                                * (2.0 * pi * f * t(i)).sin()
                        })
                        .sum()
                })
                .collect();
            let peak = raw.iter().fold(0f64, |m, v| m.max(v.abs()));
            raw.iter().map(|v| (0.3 * v / peak) as f32).collect()
        }
    }
}

fn config(n_mels: usize) -> LogMelConfig {
    LogMelConfig { n_mels, ..LogMelConfig::default() }
}

fn close_rel(got: f64, want: f64, scale: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * scale.max(want.abs())
}

#[test]
fn mel_filterbanks_match_librosa() {
    let r = reference();
    for (key, htk, norm) in [("mel_slaney", false, true), ("mel_htk", true, false)] {
        let fb = mel_filterbank_with(16_000.0, 512, 40, 0.0, 8000.0, htk, norm);
        let mut nonzero = 0;
        for row in fb.iter() {
            nonzero += row.iter().filter(|&&w| w > 0.0).count();
        }
        let entries = r[key].as_array().unwrap();
        assert_eq!(nonzero, entries.len(), "{key}: the same non-zero pattern");
        let peak = entries.iter().map(|e| e[2].as_f64().unwrap()).fold(0.0, f64::max);
        for e in entries {
            let (i, j, w) = (e[0].as_u64().unwrap() as usize, e[1].as_u64().unwrap() as usize, e[2].as_f64().unwrap());
            // librosa stores the bank in float32.
            assert!(close_rel(fb[i][j], w, peak * 1e-3, 1e-5), "{key}[{i}][{j}]: {} vs {w}", fb[i][j]);
        }
    }
}

#[test]
fn stft_logmel_and_mfcc_match_librosa() {
    let r = reference();
    let frames: Vec<usize> = r["frames"].as_array().unwrap().iter().map(|f| f.as_u64().unwrap() as usize).collect();
    let lm = LogMel::new(&config(40), 16_000);
    for name in ["chirp", "noise", "vowel"] {
        let x = signal(name);
        let want = &r["signals"][name];
        let power = lm.power_frames(&x);
        let logmel = lm.frames(&x);
        assert_eq!(power.len() as u64, want["n_frames"].as_u64().unwrap());
        for (k, &f) in frames.iter().enumerate() {
            let mag: Vec<f64> = want["stft_mag"][k].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let peak = mag.iter().cloned().fold(0.0, f64::max);
            for (b, &m) in mag.iter().enumerate() {
                let got = (power[f][b] as f64).sqrt();
                // Relative to the frame's peak: 1e-4 of it, or 1e-4 of the value where that is larger.
                assert!(close_rel(got, m, peak * 1e-3, 1e-4), "{name} STFT frame {f} bin {b}: {got} vs {m}");
            }
            let want_db: Vec<f64> = want["logmel"][k].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let top = want_db.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            for (m, &w) in want_db.iter().enumerate() {
                // 1e-3 dB within 60 dB of the frame's loudest band. Further down, single-precision FFTs
                // (ours and numpy's) differ by ~1e-7 of the peak, which is 0.002 dB at -72 dB; allow
                // 1e-3 dB scaled by how far below -60 dB the band is.
                let depth = (top - w - 60.0).max(0.0);
                let tol = 1e-3 * 10f64.powf(depth / 20.0);
                assert!(
                    (logmel[f][m] as f64 - w).abs() < tol,
                    "{name} log-mel frame {f} band {m}: {} vs {w} (tol {tol})",
                    logmel[f][m]
                );
            }
            for (key, lifter) in [("mfcc", 0.0), ("mfcc_lifter22", 22.0)] {
                // The DCT and lifter alone, on librosa's own log-mel: 1e-4 relative.
                let ref_logmel: Vec<f32> = want_db.iter().map(|&v| v as f32).collect();
                let exact = mfcc(&ref_logmel, 13, lifter);
                // The whole path from audio: the log-mel differences above, carried through the DCT.
                let ours = mfcc(&logmel[f], 13, lifter);
                for (c, w) in want[key][k].as_array().unwrap().iter().enumerate() {
                    let w = w.as_f64().unwrap();
                    assert!(
                        close_rel(exact[c] as f64, w, 1.0, 1e-4),
                        "{name} {key} frame {f} coef {c}: {} vs {w}",
                        exact[c]
                    );
                    // The lifter multiplies coefficients (and their error) by up to 1 + lifter/2.
                    let tol = 1e-2 * (1.0 + lifter / 2.0);
                    assert!(
                        (ours[c] as f64 - w).abs() < tol,
                        "{name} {key} frame {f} coef {c} from audio: {} vs {w}",
                        ours[c]
                    );
                }
            }
        }
    }
}
