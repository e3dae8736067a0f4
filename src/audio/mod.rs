//! Audio in: WAV decoding (hound), downmix to mono, resampling to the pipeline rate (rubato), and the
//! noise pools and SNR mixing built on them.

pub mod mix;
pub mod noise;

use std::path::Path;

use anyhow::{bail, Context};
use rubato::Resampler;

/// Decoded audio: mono samples in [-1, 1] at `sample_rate`.
#[derive(Debug, Clone)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// Channels in the file before the downmix.
    pub channels: u16,
}

/// Header facts of a WAV file, read without decoding the samples.
#[derive(Debug, Clone, Copy)]
pub struct WavInfo {
    pub sample_rate: u32,
    pub channels: u16,
    pub frames: u64,
}

pub fn wav_info(path: &Path) -> anyhow::Result<WavInfo> {
    let r = hound::WavReader::open(path).with_context(|| format!("{}: not a readable WAV file", path.display()))?;
    let spec = r.spec();
    Ok(WavInfo { sample_rate: spec.sample_rate, channels: spec.channels, frames: r.duration() as u64 })
}

/// Decode a WAV file (PCM 8/16/24/32-bit or 32-bit float) and average its channels to mono.
pub fn read_wav(path: &Path) -> anyhow::Result<Audio> {
    let mut r = hound::WavReader::open(path).with_context(|| format!("{}: not a readable WAV file", path.display()))?;
    let spec = r.spec();
    let ch = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()
        }
    }
    .with_context(|| format!("{}: truncated or corrupt WAV data", path.display()))?;
    if interleaved.is_empty() {
        bail!("{}: the WAV file holds no samples", path.display());
    }
    let samples = if ch == 1 {
        interleaved
    } else {
        interleaved.chunks_exact(ch).map(|f| f.iter().sum::<f32>() / ch as f32).collect()
    };
    Ok(Audio { samples, sample_rate: spec.sample_rate, channels: spec.channels })
}

/// Write mono 16-bit PCM (the format of the corpora the synthesiser imitates).
pub fn write_wav16(path: &Path, samples: &[f32], sample_rate: u32) -> anyhow::Result<()> {
    let spec =
        hound::WavSpec { channels: 1, sample_rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).with_context(|| format!("creating {}", path.display()))?;
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
    }
    w.finalize()?;
    Ok(())
}

/// The resampler's settings; they are part of every stage key that reads audio.
pub const RESAMPLER: &str = "rubato-0.16 FftFixedInOut chunk=1024";

/// Resample mono audio to `to` Hz with rubato's synchronous FFT resampler, compensating its delay so the
/// output is aligned with the input and has round(len · to / from) samples.
pub fn resample(x: &[f32], from: u32, to: u32) -> anyhow::Result<Vec<f32>> {
    if from == to || x.is_empty() {
        return Ok(x.to_vec());
    }
    let mut rs = rubato::FftFixedInOut::<f32>::new(from as usize, to as usize, 1024, 1)?;
    let delay = rs.output_delay();
    let want = ((x.len() as u64 * to as u64 + from as u64 / 2) / from as u64) as usize;
    let mut out = Vec::with_capacity(want + delay + rs.output_frames_max());
    let mut pos = 0;
    let mut buf = rs.output_buffer_allocate(true);
    while out.len() < want + delay {
        let need = rs.input_frames_next();
        let (_, written) = if pos + need <= x.len() {
            rs.process_into_buffer(&[&x[pos..pos + need]], &mut buf, None)?
        } else if pos < x.len() {
            rs.process_partial_into_buffer(Some(&[&x[pos..]]), &mut buf, None)?
        } else {
            rs.process_partial_into_buffer(None::<&[&[f32]]>, &mut buf, None)?
        };
        pos += need;
        out.extend_from_slice(&buf[0][..written]);
    }
    Ok(out[delay..delay + want].to_vec())
}

/// Decode and bring to the pipeline's sample rate.
pub fn load_mono(path: &Path, rate: u32) -> anyhow::Result<Vec<f32>> {
    let a = read_wav(path)?;
    resample(&a.samples, a.sample_rate, rate).with_context(|| format!("{}: resampling", path.display()))
}

/// Mean power (mean square) in f64.
pub fn power(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampled_sine_keeps_frequency_and_level() {
        let from = 22_050;
        let to = 16_000;
        let f0 = 1000.0;
        let x: Vec<f32> =
            (0..from).map(|i| (2.0 * std::f64::consts::PI * f0 * i as f64 / from as f64).sin() as f32 * 0.5).collect();
        let y = resample(&x, from, to).unwrap();
        assert_eq!(y.len(), to as usize);
        // Fit a 1 kHz sinusoid (any phase) away from the edges: its level must be kept and the
        // residual must be tiny, i.e. the frequency is unchanged.
        let w = 2.0 * std::f64::consts::PI * f0 / to as f64;
        let seg: Vec<(f64, f64)> =
            y.iter().enumerate().skip(500).take(15_000).map(|(i, &v)| (i as f64, v as f64)).collect();
        let n = seg.len() as f64;
        let a = 2.0 / n * seg.iter().map(|(i, v)| v * (w * i).sin()).sum::<f64>();
        let b = 2.0 / n * seg.iter().map(|(i, v)| v * (w * i).cos()).sum::<f64>();
        let amp = (a * a + b * b).sqrt();
        assert!((20.0 * (amp / 0.5).log10()).abs() < 0.1, "level changed: {amp}");
        let resid = seg.iter().map(|(i, v)| (v - a * (w * i).sin() - b * (w * i).cos()).powi(2)).sum::<f64>() / n;
        assert!(10.0 * (resid / (amp * amp / 2.0)).log10() < -60.0, "residual {resid}");
    }

    #[test]
    fn wav_roundtrip_and_empty_file_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wav");
        write_wav16(&p, &[0.0, 0.5, -0.5], 16_000).unwrap();
        let a = read_wav(&p).unwrap();
        assert_eq!(a.samples.len(), 3);
        assert!((a.samples[1] - 0.5).abs() < 1e-4);
        let empty = dir.path().join("e.wav");
        write_wav16(&empty, &[], 16_000).unwrap();
        let err = read_wav(&empty).unwrap_err().to_string();
        assert!(err.contains("e.wav") && err.contains("no samples"), "{err}");
        std::fs::write(dir.path().join("x.wav"), b"not a wav").unwrap();
        assert!(read_wav(&dir.path().join("x.wav")).unwrap_err().to_string().contains("x.wav"));
    }
}
