//! Audio files other than WAV: FLAC, Ogg Vorbis and MP3, decoded by symphonia (pure Rust, only these
//! codecs compiled in). WAV stays on hound (`super`), so the keys of WAV corpora did not move when the
//! other formats came; a file's format is told by its extension, which every stage key already holds.

use std::path::Path;

use anyhow::{bail, Context};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

/// The decoder crate and its version (Cargo.toml pins it): part of the key of every non-WAV file.
pub const SYMPHONIA: &str = "symphonia-0.6.1";

/// The audio file names readers pick up (lower case; matched case-insensitively).
pub const EXTENSIONS: &[&str] = &[".wav", ".flac", ".ogg", ".oga", ".mp3"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Wav,
    Flac,
    Ogg,
    Mp3,
}

impl Format {
    /// The format a file name says (case-insensitive extension); None for anything else.
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "wav" | "wave" => Format::Wav,
            "flac" => Format::Flac,
            "ogg" | "oga" => Format::Ogg,
            "mp3" => Format::Mp3,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Wav => "WAV",
            Format::Flac => "FLAC",
            Format::Ogg => "Ogg Vorbis",
            Format::Mp3 => "MP3",
        }
    }

    /// What decodes the format, as stage keys see it: None for WAV (hound, as before other formats
    /// were read), else the symphonia version and codec, so a decoder upgrade re-runs what it decoded.
    pub fn decoder(self) -> Option<&'static str> {
        match self {
            Format::Wav => None,
            Format::Flac => Some("symphonia-0.6.1 flac"),
            Format::Ogg => Some("symphonia-0.6.1 ogg/vorbis"),
            Format::Mp3 => Some("symphonia-0.6.1 mp3"),
        }
    }
}

/// Whether a file name is one of the audio formats sertool reads.
pub fn is_audio_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

/// Every audio file under `root/dir` in a format sertool decodes (`util::fs::find_files`' rules).
pub fn find_audio_files(root: &Path, dir: &str) -> Vec<String> {
    crate::util::fs::find_files_where(root, dir, is_audio_name)
}

/// `name` without its audio extension (the native id of a file-named utterance).
pub fn strip_audio_ext(name: &str) -> &str {
    let lower = name.to_ascii_lowercase();
    EXTENSIONS.iter().find(|e| lower.ends_with(*e)).map_or(name, |e| &name[..name.len() - e.len()])
}

/// Interleaved samples in [-1, 1] as the file holds them.
pub(super) struct Decoded {
    pub interleaved: Vec<f32>,
    pub sample_rate: u32,
    pub channels: u16,
}

/// Header facts: rate, channels and frames (counted by decoding where the container does not say).
pub(super) fn info(path: &Path, format: Format) -> anyhow::Result<super::AudioInfo> {
    guarded(path, format, || {
        let (mut reader, track) = open(path, format)?;
        let (rate, channels) = (track.rate, track.channels);
        let frames = match track.frames {
            Some(n) => n,
            None => decode_all(&mut *reader, track, path, format)?.len() as u64 / channels.max(1) as u64,
        };
        Ok(super::AudioInfo { sample_rate: rate, channels, frames })
    })
}

pub(super) fn decode(path: &Path, format: Format) -> anyhow::Result<Decoded> {
    guarded(path, format, || {
        let (mut reader, track) = open(path, format)?;
        let interleaved = decode_all(&mut *reader, track, path, format)?;
        Ok(Decoded { interleaved, sample_rate: track.rate, channels: track.channels })
    })
}

/// A decoder bug on a damaged file must be a fault of that file, not a crash of the stage.
fn guarded<T>(path: &Path, format: Format, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            bail!("{}: the {} decoder failed on this file ({msg})", path.display(), format.name())
        }
    }
}

#[derive(Clone, Copy)]
struct TrackFacts {
    id: u32,
    rate: u32,
    channels: u16,
    frames: Option<u64>,
}

fn open(path: &Path, format: Format) -> anyhow::Result<(Box<dyn FormatReader>, TrackFacts)> {
    let unreadable = || format!("{}: not a readable {} file", path.display(), format.name());
    let file = std::fs::File::open(path).with_context(unreadable)?;
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let reader = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .with_context(unreadable)?;
    let track = reader.default_track(TrackType::Audio).with_context(|| format!("{}: no audio track", unreadable()))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .with_context(|| format!("{}: the audio track has no codec parameters", unreadable()))?;
    let rate = params.sample_rate.filter(|&r| r > 0).with_context(|| format!("{}: no sample rate", unreadable()))?;
    let channels = params.channels.as_ref().map(|c| c.count()).filter(|&c| c > 0);
    let channels = channels.with_context(|| format!("{}: no channel count", unreadable()))?;
    let facts = TrackFacts {
        id: track.id,
        rate,
        channels: u16::try_from(channels).with_context(|| format!("{}: {channels} channels", unreadable()))?,
        frames: track.num_frames,
    };
    Ok((reader, facts))
}

fn decode_all(
    reader: &mut dyn FormatReader,
    track: TrackFacts,
    path: &Path,
    format: Format,
) -> anyhow::Result<Vec<f32>> {
    let corrupt = || format!("{}: truncated or corrupt {} data", path.display(), format.name());
    let params = reader
        .tracks()
        .iter()
        .find(|t| t.id == track.id)
        .and_then(|t| t.codec_params.as_ref())
        .and_then(|p| p.audio())
        .cloned()
        .with_context(corrupt)?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .with_context(|| format!("{}: no {} decoder for this stream", path.display(), format.name()))?;
    let mut out = Vec::new();
    let mut chunk: Vec<f32> = Vec::new();
    loop {
        let packet = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A stream cut short at a packet boundary reads as the end; the frame count below tells.
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e).with_context(corrupt),
        };
        if packet.track_id != track.id {
            continue;
        }
        let buf = decoder.decode(&packet).with_context(corrupt)?;
        if buf.spec().channels().count() != track.channels as usize {
            bail!("{}: the channel count changes inside the stream", corrupt());
        }
        buf.copy_to_vec_interleaved(&mut chunk);
        out.extend_from_slice(&chunk);
    }
    let frames = out.len() as u64 / track.channels.max(1) as u64;
    if let Some(want) = track.frames {
        if frames < want {
            bail!("{}: {frames} of the {want} frames the header announces", corrupt());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::of(Path::new("a/b.FLAC")), Some(Format::Flac));
        assert_eq!(Format::of(Path::new("x.oga")), Some(Format::Ogg));
        assert_eq!(Format::of(Path::new("x.wav")), Some(Format::Wav));
        assert_eq!(Format::of(Path::new("x.txt")), None);
        assert_eq!(strip_audio_ext("spk1_a.Mp3"), "spk1_a");
        assert_eq!(strip_audio_ext("notes.txt"), "notes.txt");
        assert!(is_audio_name("1001_DFA_ANG_XX.mp3") && !is_audio_name("x.wav.txt"));
        assert_eq!(Format::Wav.decoder(), None);
        assert!(Format::Mp3.decoder().unwrap().starts_with(SYMPHONIA));
    }
}
