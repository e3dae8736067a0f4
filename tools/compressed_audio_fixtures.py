"""Real compressed audio for sertool's decoder tests and the synthesiser's generic-CSV corpus.

Speech from espeak-ng (Debian package espeak-ng), brought to the rates and channel layouts that
re-distributions ship (44.1 kHz stereo, 48 kHz mono) with soxr, and encoded by libsndfile (soundfile):
Ogg Vorbis, MP3 (LAME) and FLAC. libsndfile then decodes each file back, and what it decodes is the
oracle tests/decoders.rs compares symphonia with: FLAC bit for bit (a SHA-256 of the 16-bit
samples), Ogg and MP3 by length, level and waveform correlation (lossy decoders may differ in the
last bits and in how they trim encoder delay).

Writes tests/data/audio/*.{ogg,mp3,flac} (a few KB each) and tests/data/audio/decoded_reference.json.

    apt-get install espeak-ng
    python3 -m venv tools/.venv && tools/.venv/bin/pip install numpy soundfile soxr
    tools/.venv/bin/python tools/compressed_audio_fixtures.py
"""

import hashlib
import json
import pathlib
import subprocess
import tempfile

import numpy as np
import soundfile as sf
import soxr

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "audio"

# (file, sentence, voice, rate, channels, format, subtype, extra)
CLIPS = [
    ("tts_en_44k_stereo.ogg", "Kids are talking by the door.", "en-us", 44_100, 2, "OGG", "VORBIS"),
    ("tts_de_48k_mono.ogg", "Der Lappen liegt auf dem Eisschrank.", "de", 48_000, 1, "OGG", "VORBIS"),
    ("tts_en_44k_stereo.mp3", "Dogs are sitting by the door.", "en-gb", 44_100, 2, "MP3", "MPEG_LAYER_III"),
    ("tts_en_48k_mono.mp3", "It is eleven o'clock.", "en-us", 48_000, 1, "MP3", "MPEG_LAYER_III"),
    ("tts_en_22k_mono.flac", "I think so.", "en-us", 22_050, 1, "FLAC", "PCM_16"),
    ("tts_fr_16k_stereo.flac", "Le chat dort.", "fr", 16_000, 2, "FLAC", "PCM_16"),
]


def speak(text, voice):
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", f.name, text], check=True)
        x, rate = sf.read(f.name, dtype="float64")
    return x, rate


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    ref = {"libsndfile": sf.__libsndfile_version__, "files": {}}
    for name, text, voice, rate, channels, fmt, subtype in CLIPS:
        x, r0 = speak(text, voice)
        # At most 1.2 s: the files stay a few KB.
        x = soxr.resample(x, r0, rate)[: int(1.2 * rate)]
        # Room tone under the lossy clips' speech, as real recordings have (FLAC keeps espeak's digital
        # silence, the other real-world case); a level at which no sample clips.
        rng = np.random.default_rng(len(name))
        noise = 0.0 if fmt == "FLAC" else 1e-3
        x = 0.7 * x / np.max(np.abs(x)) + noise * rng.standard_normal(len(x))
        if channels == 2:
            x = np.stack([x, 0.5 * x + noise * rng.standard_normal(len(x))], axis=1)
        path = OUT / name
        kwargs = {"compression_level": 0.9} if fmt in ("OGG", "MP3") else {}
        sf.write(path, x, rate, format=fmt, subtype=subtype, **kwargs)
        y, rate_back = sf.read(path, dtype="float32", always_2d=True)
        entry = {
            "sample_rate": rate_back,
            "channels": y.shape[1],
            "frames": y.shape[0],
            "rms": float(np.sqrt(np.mean(y.astype(np.float64) ** 2))),
            # Mono mean, every 128th sample: what the correlation test compares.
            "mono_every_128": [round(float(v), 4) for v in y.mean(axis=1)[::128]],
        }
        if fmt == "FLAC":
            pcm, _ = sf.read(path, dtype="int16", always_2d=True)
            entry["sha256_i16_interleaved_le"] = hashlib.sha256(pcm.astype("<i2").tobytes()).hexdigest()
        ref["files"][name] = entry
        print(f"{name}: {path.stat().st_size} bytes, {y.shape[0]} frames at {rate_back} Hz x {y.shape[1]}")
    (OUT / "decoded_reference.json").write_text(json.dumps(ref) + "\n")


if __name__ == "__main__":
    main()
