//! A small FLAC encoder, so the synthesiser can write corpora in the format many re-distributions use
//! and tests can compare a FLAC file with the same samples as WAV (RFC 9639). 16-bit, independent
//! channels, 4096-sample blocks; each subframe takes the fixed predictor (order 0–4) with the smallest
//! residual and one Rice partition. Real compression, so decoders run their residual path, not only
//! the verbatim one.

use std::path::Path;

use anyhow::Context;

const BLOCK: usize = 4096;

/// Write interleaved 16-bit samples of `channels` channels as FLAC.
pub fn write_flac16(path: &Path, interleaved: &[i16], channels: u16, sample_rate: u32) -> anyhow::Result<()> {
    let ch = channels.max(1) as usize;
    let frames = interleaved.len() / ch;
    let mut w = BitWriter::default();
    w.bytes(b"fLaC");
    // STREAMINFO, the only (so the last) metadata block.
    w.bits(1, 1);
    w.bits(0, 7);
    w.bits(34, 24);
    w.bits(BLOCK as u64, 16);
    w.bits(BLOCK as u64, 16);
    w.bits(0, 24); // min frame size: unknown
    w.bits(0, 24); // max frame size: unknown
    w.bits(sample_rate as u64, 20);
    w.bits(ch as u64 - 1, 3);
    w.bits(15, 5); // bits per sample - 1
    w.bits(frames as u64, 36);
    w.bytes(&[0; 16]); // MD5 unknown
    let mut out = w.finish();
    for (n, start) in (0..frames).step_by(BLOCK).enumerate() {
        let len = BLOCK.min(frames - start);
        let planes: Vec<Vec<i32>> =
            (0..ch).map(|c| (start..start + len).map(|i| interleaved[i * ch + c] as i32).collect()).collect();
        out.extend(frame(n as u64, &planes, ch));
    }
    std::fs::write(path, out).with_context(|| format!("creating {}", path.display()))
}

fn frame(number: u64, planes: &[Vec<i32>], ch: usize) -> Vec<u8> {
    let len = planes[0].len();
    let mut w = BitWriter::default();
    w.bits(0b11_1111_1111_1110, 14); // sync
    w.bits(0, 1); // reserved
    w.bits(0, 1); // fixed block size
    w.bits(0b0111, 4); // block size - 1 in 16 bits after the header
    w.bits(0, 4); // sample rate from STREAMINFO
    w.bits(ch as u64 - 1, 4); // independent channels
    w.bits(0b100, 3); // 16 bits per sample
    w.bits(0, 1);
    utf8(&mut w, number);
    w.bits(len as u64 - 1, 16);
    let header = w.finish();
    let mut w = BitWriter::default();
    w.bytes(&header);
    w.bits(crc8(&header) as u64, 8);
    for p in planes {
        subframe(&mut w, p);
    }
    let mut body = w.finish();
    let crc = crc16(&body);
    body.extend(crc.to_be_bytes());
    body
}

/// The "UTF-8" coding of the frame number.
fn utf8(w: &mut BitWriter, v: u64) {
    if v < 0x80 {
        return w.bits(v, 8);
    }
    let mut n = 2;
    while v >= 1u64 << (5 * n + 1) {
        n += 1;
    }
    let lead = (0xFFu64 << (8 - n)) & 0xFF;
    w.bits(lead | (v >> (6 * (n - 1))), 8);
    for k in (0..n - 1).rev() {
        w.bits(0x80 | ((v >> (6 * k)) & 0x3F), 8);
    }
}

fn residuals(x: &[i32], order: usize) -> Vec<i32> {
    (order..x.len())
        .map(|i| {
            let p = match order {
                0 => 0,
                1 => x[i - 1],
                2 => 2 * x[i - 1] - x[i - 2],
                3 => 3 * x[i - 1] - 3 * x[i - 2] + x[i - 3],
                _ => 4 * x[i - 1] - 6 * x[i - 2] + 4 * x[i - 3] - x[i - 4],
            };
            x[i] - p
        })
        .collect()
}

fn subframe(w: &mut BitWriter, x: &[i32]) {
    let cost = |r: &[i32]| r.iter().map(|v| v.unsigned_abs() as u64).sum::<u64>();
    let order = (0..=4.min(x.len().saturating_sub(1))).min_by_key(|&o| cost(&residuals(x, o))).unwrap_or(0);
    let r = residuals(x, order);
    w.bits(0, 1);
    w.bits(0b001000 | order as u64, 6); // FIXED, this order
    w.bits(0, 1); // no wasted bits
    for &s in &x[..order] {
        w.bits((s as u64) & 0xFFFF, 16);
    }
    // Residual: 4-bit Rice parameters, one partition.
    w.bits(0, 2);
    w.bits(0, 4);
    let mean = if r.is_empty() { 0 } else { cost(&r) / r.len() as u64 };
    let k = if mean == 0 { 0 } else { (63 - mean.leading_zeros()).min(14) };
    w.bits(k as u64, 4);
    for &v in &r {
        let u = ((v << 1) ^ (v >> 31)) as u32 as u64;
        let q = u >> k;
        for _ in 0..q {
            w.bits(0, 1);
        }
        w.bits(1, 1);
        w.bits(u & ((1 << k) - 1), k);
    }
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn bits(&mut self, v: u64, n: u32) {
        for i in (0..n).rev() {
            self.acc = (self.acc << 1) | ((v >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.bits(x as u64, 8);
        }
    }

    /// The bytes written, the last one zero-padded.
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.bits(0, 8 - self.n);
        }
        self.out
    }
}

fn crc8(data: &[u8]) -> u8 {
    let mut c = 0u8;
    for &b in data {
        c ^= b;
        for _ in 0..8 {
            c = if c & 0x80 != 0 { (c << 1) ^ 0x07 } else { c << 1 };
        }
    }
    c
}

fn crc16(data: &[u8]) -> u16 {
    let mut c = 0u16;
    for &b in data {
        c ^= (b as u16) << 8;
        for _ in 0..8 {
            c = if c & 0x8000 != 0 { (c << 1) ^ 0x8005 } else { c << 1 };
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symphonia_decodes_what_this_writes_to_the_sample() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.flac");
        // Two channels, a partial last block, full-scale values and silence.
        let frames = BLOCK * 2 + 123;
        let x: Vec<i16> = (0..frames * 2)
            .map(|i| match i / 2 {
                f if f < 50 => 0,
                f if f < 60 => i16::MAX,
                f => ((f as f64 * 0.05).sin() * 12_000.0 + (i % 2) as f64 * 900.0) as i16,
            })
            .collect();
        write_flac16(&p, &x, 2, 22_050).unwrap();
        let info = crate::audio::audio_info(&p).unwrap();
        assert_eq!((info.sample_rate, info.channels, info.frames), (22_050, 2, frames as u64));
        let a = crate::audio::read_audio_with(&p, crate::audio::ChannelPolicy::Pick(1)).unwrap();
        let want: Vec<f32> = x.chunks(2).map(|f| f[1] as f32 / 32768.0).collect();
        assert_eq!(a.samples, want);
    }
}
