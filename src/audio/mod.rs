//! Audio in: decoding (WAV by hound; FLAC, Ogg Vorbis and MP3 by symphonia, `decode`), downmix to mono,
//! resampling to the pipeline rate (rubato), and the noise pools and SNR mixing built on them.

pub mod decode;
pub mod mix;
pub mod noise;
pub mod quality;

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

pub use decode::Format;

/// Header facts of an audio file, read without decoding the samples where the container says them.
#[derive(Debug, Clone, Copy)]
pub struct AudioInfo {
    pub sample_rate: u32,
    pub channels: u16,
    pub frames: u64,
}

pub fn audio_info(path: &Path) -> anyhow::Result<AudioInfo> {
    match format_of(path)? {
        Format::Wav => {
            let r =
                hound::WavReader::open(path).with_context(|| format!("{}: not a readable WAV file", path.display()))?;
            let spec = r.spec();
            check_spec(spec).with_context(|| format!("{}: not a readable WAV file", path.display()))?;
            // The header is read, not the samples: a file cut short shows as a data chunk that announces
            // more bytes than the file holds.
            let announced = r.len() as u64 * spec.bits_per_sample.div_ceil(8) as u64;
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if announced > size {
                bail!(
                    "{}: truncated or corrupt WAV data: the header announces {announced} bytes of samples, the file holds {size} bytes",
                    path.display()
                );
            }
            Ok(AudioInfo { sample_rate: spec.sample_rate, channels: spec.channels, frames: r.duration() as u64 })
        }
        f => decode::info(path, f),
    }
}

fn format_of(path: &Path) -> anyhow::Result<Format> {
    Format::of(path).with_context(|| {
        format!("{}: not an audio file sertool reads (expected {})", path.display(), decode::EXTENSIONS.join(", "))
    })
}

/// How multi-channel files become mono: the mean of all channels, or one channel (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChannelPolicy {
    Mean,
    Pick(u16),
}

impl ChannelPolicy {
    /// "mean" or "channel:N".
    pub fn parse(s: &str) -> Option<ChannelPolicy> {
        match s {
            "mean" => Some(ChannelPolicy::Mean),
            _ => s.strip_prefix("channel:").and_then(|n| n.parse().ok()).map(ChannelPolicy::Pick),
        }
    }
}

/// Decode an audio file (WAV PCM 8/16/24/32-bit or 32-bit float, FLAC, Ogg Vorbis, MP3) and average
/// its channels to mono.
pub fn read_audio(path: &Path) -> anyhow::Result<Audio> {
    read_audio_with(path, ChannelPolicy::Mean)
}

/// Decode an audio file and make it mono by `policy`.
pub fn read_audio_with(path: &Path, policy: ChannelPolicy) -> anyhow::Result<Audio> {
    let format = format_of(path)?;
    let (interleaved, sample_rate, channels) = match format {
        Format::Wav => read_wav_interleaved(path)?,
        f => {
            let d = decode::decode(path, f)?;
            (d.interleaved, d.sample_rate, d.channels)
        }
    };
    if interleaved.is_empty() {
        bail!("{}: the {} file holds no samples", path.display(), format.name());
    }
    let ch = channels.max(1) as usize;
    let samples = match policy {
        _ if ch == 1 => interleaved,
        ChannelPolicy::Mean => interleaved.chunks_exact(ch).map(|f| f.iter().sum::<f32>() / ch as f32).collect(),
        ChannelPolicy::Pick(k) if (k as usize) < ch => interleaved.chunks_exact(ch).map(|f| f[k as usize]).collect(),
        ChannelPolicy::Pick(k) => bail!("{}: channel {k} asked for, but the file has {ch} channel(s)", path.display()),
    };
    Ok(Audio { samples, sample_rate, channels })
}

/// A WAV file's samples, interleaved, with its rate and channel count.
fn read_wav_interleaved(path: &Path) -> anyhow::Result<(Vec<f32>, u32, u16)> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: not a readable WAV file", path.display()))?;
    // A damaged header may announce gigabytes: never reserve more than the file can hold.
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = hound::WavReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("{}: not a readable WAV file", path.display()))?;
    let spec = r.spec();
    check_spec(spec).with_context(|| format!("{}: not a readable WAV file", path.display()))?;
    let interleaved: Vec<f32> = match decode_bulk(r, spec, file_len) {
        Ok(Some(x)) => x,
        Ok(None) => {
            // A layout the bulk path does not take (24-bit): hound's per-sample reader.
            r = hound::WavReader::open(path).with_context(|| format!("{}: not a readable WAV file", path.display()))?;
            decode_per_sample(&mut r, spec)
                .with_context(|| format!("{}: truncated or corrupt WAV data", path.display()))?
        }
        Err(e) => return Err(e).with_context(|| format!("{}: truncated or corrupt WAV data", path.display())),
    };
    Ok((interleaved, spec.sample_rate, spec.channels))
}

/// Read the whole data chunk at once and convert it (hound's per-sample iterator costs about half of a
/// decode + mix). None for sample layouts handled by [`decode_per_sample`].
fn decode_bulk<R: std::io::Read>(
    r: hound::WavReader<R>,
    spec: hound::WavSpec,
    file_len: u64,
) -> anyhow::Result<Option<Vec<f32>>> {
    use std::io::Read;
    let bytes_per_sample = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 8) => 1,
        (hound::SampleFormat::Int, 16) => 2,
        (hound::SampleFormat::Int, 32) | (hound::SampleFormat::Float, 32) => 4,
        _ => return Ok(None),
    };
    let n = r.len() as usize;
    let mut bytes = Vec::with_capacity((n * bytes_per_sample).min(file_len as usize));
    r.into_inner().take((n * bytes_per_sample) as u64).read_to_end(&mut bytes)?;
    anyhow::ensure!(
        bytes.len() == n * bytes_per_sample,
        "the data chunk ends after {} of {} bytes",
        bytes.len(),
        n * bytes_per_sample
    );
    Ok(Some(match (spec.sample_format, bytes_per_sample) {
        // 8-bit WAV is unsigned, centred on 128.
        (hound::SampleFormat::Int, 1) => bytes.iter().map(|&b| (b as f32 - 128.0) / 128.0).collect(),
        (hound::SampleFormat::Int, 2) => {
            bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0).collect()
        }
        (hound::SampleFormat::Int, _) => bytes
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0)
            .collect(),
        _ => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
    }))
}

/// Sample layouts the decoders take: hound passes a WAVE_FORMAT_EXTENSIBLE header's valid-bits field
/// through unchecked (the fuzz tests found 65-bit samples).
fn check_spec(spec: hound::WavSpec) -> anyhow::Result<()> {
    let ok = match spec.sample_format {
        hound::SampleFormat::Int => (1..=32).contains(&spec.bits_per_sample),
        hound::SampleFormat::Float => spec.bits_per_sample == 32,
    };
    anyhow::ensure!(
        ok,
        "{} bits per {:?} sample is not a layout WAV files use",
        spec.bits_per_sample,
        spec.sample_format
    );
    anyhow::ensure!(spec.channels > 0 && spec.sample_rate > 0, "the header has no channels or no sample rate");
    Ok(())
}

fn decode_per_sample<R: std::io::Read>(
    r: &mut hound::WavReader<R>,
    spec: hound::WavSpec,
) -> Result<Vec<f32>, hound::Error> {
    match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()
        }
    }
}

/// Write mono 16-bit PCM (the format of the corpora the synthesiser imitates).
pub fn write_wav16(path: &Path, samples: &[f32], sample_rate: u32) -> anyhow::Result<()> {
    let spec =
        hound::WavSpec { channels: 1, sample_rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).with_context(|| format!("creating {}", path.display()))?;
    for &s in samples {
        w.write_sample(quantize16(s))?;
    }
    w.finalize()?;
    Ok(())
}

/// A sample in [-1, 1] as 16-bit PCM, as every 16-bit file sertool writes stores it.
pub fn quantize16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// Write mono 32-bit float WAV: what `sertool mix --write-wav` writes, bit for bit what features see.
pub fn write_wav_f32(path: &Path, samples: &[f32], sample_rate: u32) -> anyhow::Result<()> {
    let spec =
        hound::WavSpec { channels: 1, sample_rate, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
    let mut w = hound::WavWriter::create(path, spec).with_context(|| format!("creating {}", path.display()))?;
    for &s in samples {
        w.write_sample(s)?;
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
    thread_local! {
        // Planning the FFTs and the filter costs about a tenth of resampling a 2 s file: keep one
        // resampler per rate pair and thread, reset between files.
        static RESAMPLERS: std::cell::RefCell<std::collections::HashMap<(u32, u32), rubato::FftFixedInOut<f32>>> =
            Default::default();
    }
    RESAMPLERS.with(|cell| {
        let mut map = cell.borrow_mut();
        let rs = match map.entry((from, to)) {
            std::collections::hash_map::Entry::Occupied(e) => {
                let rs = e.into_mut();
                rs.reset();
                rs
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(rubato::FftFixedInOut::<f32>::new(from as usize, to as usize, 1024, 1)?)
            }
        };
        resample_with(rs, x, from, to)
    })
}

fn resample_with(rs: &mut rubato::FftFixedInOut<f32>, x: &[f32], from: u32, to: u32) -> anyhow::Result<Vec<f32>> {
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

/// How a pipeline reads audio: its sample rate and channel policy (both part of every audio stage's key).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AudioIn {
    pub rate: u32,
    pub channels: ChannelPolicy,
}

impl AudioIn {
    pub fn new(rate: u32, channels: ChannelPolicy) -> AudioIn {
        AudioIn { rate, channels }
    }

    pub fn load(&self, path: &Path) -> anyhow::Result<Vec<f32>> {
        load_mono(path, self.rate, self.channels)
    }
}

/// Decode, make mono and bring to the pipeline's sample rate.
pub fn load_mono(path: &Path, rate: u32, policy: ChannelPolicy) -> anyhow::Result<Vec<f32>> {
    let a = read_audio_with(path, policy)?;
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
        let a = read_audio(&p).unwrap();
        assert_eq!(a.samples.len(), 3);
        assert!((a.samples[1] - 0.5).abs() < 1e-4);
        let empty = dir.path().join("e.wav");
        write_wav16(&empty, &[], 16_000).unwrap();
        let err = read_audio(&empty).unwrap_err().to_string();
        assert!(err.contains("e.wav") && err.contains("no samples"), "{err}");
        std::fs::write(dir.path().join("x.wav"), b"not a wav").unwrap();
        assert!(read_audio(&dir.path().join("x.wav")).unwrap_err().to_string().contains("x.wav"));
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    fn write(path: &Path, bits: u16, float: bool, channels: u16, frames: &[Vec<f64>], rate: u32) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if float { hound::SampleFormat::Float } else { hound::SampleFormat::Int },
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for f in frames {
            for &v in f {
                if float {
                    w.write_sample(v as f32).unwrap();
                } else {
                    let max = (1i64 << (bits - 1)) as f64;
                    w.write_sample((v * (max - 1.0)).round() as i32).unwrap();
                }
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn every_pcm_width_and_float_decode_to_the_same_signal() {
        let dir = tempfile::tempdir().unwrap();
        let frames: Vec<Vec<f64>> = (0..100).map(|i| vec![(i as f64 / 100.0 - 0.5) * 0.8]).collect();
        for (bits, float) in [(8, false), (16, false), (24, false), (32, false), (32, true)] {
            let p = dir.path().join(format!("{bits}{float}.wav"));
            write(&p, bits, float, 1, &frames, 16_000);
            let a = read_audio(&p).unwrap();
            let tol = if bits == 8 { 0.01 } else { 1e-4 };
            for (x, f) in a.samples.iter().zip(&frames) {
                assert!((*x as f64 - f[0]).abs() < tol, "{bits}-bit: {x} vs {}", f[0]);
            }
        }
    }

    #[test]
    fn channels_are_averaged_or_picked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("st.wav");
        write(&p, 16, false, 2, &[vec![0.5, -0.25], vec![0.25, 0.25]], 44_100);
        let mean = read_audio_with(&p, ChannelPolicy::Mean).unwrap();
        assert!((mean.samples[0] - 0.125).abs() < 1e-3 && mean.channels == 2);
        let right = read_audio_with(&p, ChannelPolicy::Pick(1)).unwrap();
        assert!((right.samples[0] + 0.25).abs() < 1e-3);
        let err = read_audio_with(&p, ChannelPolicy::Pick(2)).unwrap_err().to_string();
        assert!(err.contains("st.wav") && err.contains("2 channel"), "{err}");
        assert_eq!(ChannelPolicy::parse("channel:3"), Some(ChannelPolicy::Pick(3)));
        assert_eq!(ChannelPolicy::parse("left"), None);
    }

    #[test]
    fn empty_truncated_and_non_wav_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.wav");
        write_wav16(&ok, &vec![0.1; 1000], 16_000).unwrap();
        let bytes = std::fs::read(&ok).unwrap();
        let cut = dir.path().join("cut.wav");
        std::fs::write(&cut, &bytes[..bytes.len() - 501]).unwrap();
        let headless = dir.path().join("headless.wav");
        std::fs::write(&headless, &bytes[..20]).unwrap();
        let text = dir.path().join("text.wav");
        std::fs::write(&text, "ID3 not audio at all").unwrap();
        let empty = dir.path().join("empty.wav");
        std::fs::write(&empty, b"").unwrap();
        for p in [&cut, &headless, &text, &empty] {
            let err = format!("{:#}", read_audio(p).unwrap_err());
            assert!(err.contains(&p.file_name().unwrap().to_string_lossy().to_string()), "{err}");
        }
    }

    fn tone(f: f64, rate: u32, secs: f64) -> Vec<f32> {
        (0..(rate as f64 * secs) as usize)
            .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / rate as f64).sin() as f32 * 0.5)
            .collect()
    }

    /// (amplitude of the best-fitting sinusoid at `f`, power of everything else) away from the edges.
    fn fit(y: &[f32], f: f64, rate: u32) -> (f64, f64) {
        let w = 2.0 * std::f64::consts::PI * f / rate as f64;
        let seg: Vec<(f64, f64)> =
            y.iter().enumerate().skip(1000).take(y.len() - 2000).map(|(i, &v)| (i as f64, v as f64)).collect();
        let n = seg.len() as f64;
        let a = 2.0 / n * seg.iter().map(|(i, v)| v * (w * i).sin()).sum::<f64>();
        let b = 2.0 / n * seg.iter().map(|(i, v)| v * (w * i).cos()).sum::<f64>();
        let resid = seg.iter().map(|(i, v)| (v - a * (w * i).sin() - b * (w * i).cos()).powi(2)).sum::<f64>() / n;
        ((a * a + b * b).sqrt(), resid)
    }

    #[test]
    fn resampling_44k1_to_16k_keeps_a_1khz_tone_and_suppresses_aliases() {
        let y = resample(&tone(1000.0, 44_100, 2.0), 44_100, 16_000).unwrap();
        assert_eq!(y.len(), 32_000);
        let (amp, resid) = fit(&y, 1000.0, 16_000);
        assert!((20.0 * (amp / 0.5).log10()).abs() < 0.1, "level {amp}");
        assert!(10.0 * (resid / 0.125).log10() < -60.0, "residual {resid}");
        // 7.9 kHz, just below the new Nyquist: whatever passes, nothing else may appear.
        let y = resample(&tone(7900.0, 44_100, 2.0), 44_100, 16_000).unwrap();
        let (_, resid) = fit(&y, 7900.0, 16_000);
        assert!(10.0 * (resid / 0.125).log10() < -60.0, "aliasing {} dB", 10.0 * (resid / 0.125).log10());
        // 10 kHz cannot exist at 16 kHz: it must be filtered out, not folded down to 6 kHz.
        let y = resample(&tone(10_000.0, 44_100, 2.0), 44_100, 16_000).unwrap();
        let p = y[1000..y.len() - 1000].iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / (y.len() - 2000) as f64;
        assert!(10.0 * (p / 0.125).log10() < -60.0, "alias of 10 kHz at {} dB", 10.0 * (p / 0.125).log10());
    }
}
