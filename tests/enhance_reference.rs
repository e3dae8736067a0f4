//! The enhancement-quality metrics against outside references (tools/enhance_reference.py wrote
//! tests/data/enhance_reference.json): STOI against pystoi, SI-SDR and segmental SNR against numpy
//! transcriptions of their definitions. The signals are regenerated here from the stored parameters with
//! the same generator (f64 arithmetic, then cast to f32), so only the parameters are stored.

use serde_json::Value;
use sertool::audio::quality::{segmental_snr, si_sdr, stoi, stoi_details};

fn reference() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/enhance_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A 64-bit LCG (Knuth's MMIX constants); the top 53 bits of the state as a float in [-1, 1).
fn lcg_noise(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / 9007199254740992.0) * 2.0 - 1.0
        })
        .collect()
}

/// sin(2π f i/fs) · (0.6 + 0.4 sin(2π am i/fs)), the arguments evaluated left to right as in Python.
fn tone(i: usize, fs: f64, f: f64, am_hz: f64) -> f64 {
    let pi = std::f64::consts::PI;
    (2.0 * pi * f * i as f64 / fs).sin() * (0.6 + 0.4 * (2.0 * pi * am_hz * i as f64 / fs).sin())
}

fn num(case: &Value, key: &str) -> f64 {
    case[key].as_f64().unwrap_or_else(|| panic!("{key} missing"))
}

fn int(case: &Value, key: &str) -> usize {
    case[key].as_u64().unwrap_or_else(|| panic!("{key} missing")) as usize
}

/// (clean, processed) as the script builds them.
fn generate(case: &Value) -> (Vec<f32>, Vec<f32>) {
    let (n, fs) = (int(case, "n"), num(case, "fs"));
    let mut clean = vec![0.0f64; n];
    for t in case["tones"].as_array().unwrap() {
        let (f, am) = (num(t, "f"), num(t, "am_hz"));
        for (i, c) in clean.iter_mut().enumerate() {
            *c += tone(i, fs, f, am);
        }
    }
    let amp = num(case, "amp");
    for c in &mut clean {
        *c *= amp;
    }
    for c in &mut clean[int(case, "gap_start")..int(case, "gap_end")] {
        *c = 0.0;
    }
    let noise = lcg_noise(n, case["seed"].as_u64().unwrap());
    let (direct, delay, delay_gain, noise_gain) =
        (num(case, "direct"), int(case, "delay"), num(case, "delay_gain"), num(case, "noise_gain"));
    let processed: Vec<f32> = (0..n)
        .map(|i| {
            let delayed = if i >= delay { clean[i - delay] } else { 0.0 };
            (direct * clean[i] + delay_gain * delayed + noise_gain * noise[i]) as f32
        })
        .collect();
    (clean.iter().map(|&v| v as f32).collect(), processed)
}

fn sums(x: &[f32]) -> (f64, f64) {
    (x.iter().map(|&v| v as f64).sum(), x.iter().map(|&v| (v as f64) * (v as f64)).sum())
}

fn assert_close(name: &str, what: &str, ours: f64, theirs: f64, tol: f64) {
    assert!((ours - theirs).abs() <= tol, "{name}: {what} = {ours}, reference {theirs}");
}

#[test]
fn generated_signals_match_the_script() {
    for case in reference()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let dbg = &case["debug"];
        let (clean, processed) = generate(case);
        for (what, x) in [("clean", &clean), ("processed", &processed)] {
            let (s, sq) = sums(x);
            let (ws, wsq) = (num(dbg, &format!("{what}_sum")), num(dbg, &format!("{what}_sumsq")));
            assert_close(name, &format!("{what} sum"), s, ws, 1e-9 * (1.0 + wsq));
            assert_close(name, &format!("{what} sum of squares"), sq, wsq, 1e-9 * wsq);
        }
    }
}

#[test]
fn stoi_matches_pystoi() {
    for case in reference()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let dbg = &case["debug"];
        let (clean, processed) = generate(case);
        let rate = int(case, "fs") as u32;
        let d = stoi_details(&clean, &processed, rate);
        // The intermediate sizes first: a mismatch there says which step to look at.
        assert_eq!(d.resampled_len, int(dbg, "resampled_len"), "{name}: length at 10 kHz");
        let energy = num(dbg, "resampled_clean_energy");
        assert_close(name, "clean energy at 10 kHz", d.resampled_clean_energy, energy, 1e-9 * energy);
        assert_eq!(d.vad_frames, int(dbg, "vad_frames"), "{name}: frames before silence removal");
        assert_eq!(d.vad_kept, int(dbg, "vad_kept"), "{name}: frames kept");
        assert_eq!(d.stft_frames, int(dbg, "stft_frames"), "{name}: STFT frames");
        if let Some(j) = dbg["segments"].as_u64() {
            assert_eq!(d.segments, j as usize, "{name}: segments");
        }
        assert_close(name, "STOI", d.value, num(case, "stoi"), 1e-3);
        assert_eq!(stoi(&clean, &processed, rate), d.value, "{name}: stoi and stoi_details differ");
    }
}

#[test]
fn si_sdr_and_segmental_snr_match_numpy() {
    for case in reference()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (clean, processed) = generate(case);
        let rate = int(case, "fs") as u32;
        assert_close(name, "SI-SDR", si_sdr(&clean, &processed), num(case, "si_sdr"), 1e-3);
        assert_close(name, "segmental SNR", segmental_snr(&clean, &processed, rate), num(case, "segmental_snr"), 1e-3);
    }
}
