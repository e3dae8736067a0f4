//! Corpora in the formats collections ship: a generic-CSV corpus of WAV, FLAC, Ogg Vorbis and MP3 at
//! 16–48 kHz, mono and stereo (the synthesiser writes it) ingests, trains and is tested; a FLAC file's
//! features equal, to the bit, those of the same samples as WAV; CREMA-D's AudioMP3 folder reads.

mod common;

use std::collections::BTreeMap;

use common::Workspace;

const PIPELINE: &str = r#"[pipeline]
name = "formats"
shards = 2

[labels]
classes = ["neutral", "happy", "angry", "sad"]

[corpora.mixed]
kind = "csv"
root = "../data/synth/generic_csv"
split = { method = "column" }

[features]
kind = "logmel_stats"
n_mels = 24

[models.mlp]
kind = "mlp"
hidden = [16]
epochs = 3

[[experiments]]
name = "in_mixed"
train = ["mixed"]
test = ["mixed"]
"#;

/// Every clean feature row in the cache: utterance id → vector.
fn clean_features(ws: &Workspace) -> BTreeMap<String, Vec<f32>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(ws.path().join("cache/features")).unwrap().flatten() {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path().join("meta.json")).unwrap()).unwrap();
        if meta["stage"].as_str().unwrap().split('/').nth(2) != Some("clean") {
            continue;
        }
        let b = sertool::table::read_parquet(&e.path().join("features.parquet")).unwrap();
        let ids = sertool::table::strings(&b, "id").unwrap();
        out.extend(ids.into_iter().zip(sertool::table::vectors(&b, "features").unwrap()));
    }
    out
}

#[test]
fn a_corpus_of_mixed_formats_trains_and_flac_features_equal_wav_features() {
    let ws = Workspace::new(3);
    let root = ws.path().join("data/synth/generic_csv");
    // A FLAC twin of one WAV clip: the same 16-bit samples, another file format.
    let wav = root.join("audio/spk0_angry_0.wav");
    let mut r = hound::WavReader::open(&wav).unwrap();
    let pcm: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    sertool::corpus::synth::flac::write_flac16(&root.join("audio/twin.flac"), &pcm, 1, r.spec().sample_rate).unwrap();
    // A FLAC file cut short reads as sound at ingest (its header is whole); decoding finds it.
    let flac = std::fs::read(root.join("audio/tts4.flac")).unwrap();
    std::fs::write(root.join("audio/cut.flac"), &flac[..flac.len() / 3]).unwrap();
    let mut csv = std::fs::read_to_string(root.join("manifest.csv")).unwrap();
    csv.push_str("audio/twin.flac,angry,spk0,train,f\naudio/cut.flac,sad,spk0,train,f\n");
    std::fs::write(root.join("manifest.csv"), csv).unwrap();
    std::fs::write(ws.path().join("pipelines/formats.toml"), PIPELINE).unwrap();

    let out = ws.cmd(&["run", "pipelines/formats.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("audio/cut.flac: unreadable audio: ") && err.contains("reports/formats/faults.csv"), "{err}");
    let faults = std::fs::read_to_string(ws.path().join("reports/formats/faults.csv")).unwrap();
    let cut = faults.lines().find(|l| l.contains("audio/cut.flac")).unwrap_or_else(|| panic!("{faults}"));
    assert!(cut.starts_with("features/mixed/clean/") && cut.contains("frames the header announces"), "{cut}");
    let manifest = sertool::table::read_parquet(&ws.path().join("manifests/mixed.parquet")).unwrap();
    let paths = sertool::table::strings(&manifest, "path").unwrap();
    let rates = sertool::table::u32s(&manifest, "sample_rate_hz").unwrap();
    let channels = sertool::table::u32s(&manifest, "channels").unwrap();
    let by_ext = |ext: &str| paths.iter().filter(|p| p.ends_with(ext)).count();
    assert!(by_ext(".wav") > 0 && by_ext(".flac") > 2 && by_ext(".ogg") == 2 && by_ext(".mp3") == 2, "{paths:?}");
    let facts: BTreeMap<&str, (u32, u32)> =
        paths.iter().zip(rates.iter().zip(&channels)).map(|(p, (r, c))| (p.as_str(), (*r, *c))).collect();
    assert_eq!(facts["audio/tts0.ogg"], (44_100, 2));
    assert_eq!(facts["audio/tts1.ogg"], (48_000, 1));
    assert_eq!(facts["audio/tts2.mp3"], (44_100, 2));
    assert_eq!(facts["audio/tts3.mp3"], (48_000, 1));
    assert_eq!(facts["audio/tts5.flac"], (16_000, 2));
    let faults = std::fs::read_to_string(ws.path().join("manifests/mixed.faults.csv")).unwrap();
    assert_eq!(faults.lines().count(), 1, "only the header: {faults}");

    let features = clean_features(&ws);
    for id in ["mixed/audio/tts0", "mixed/audio/tts2", "mixed/audio/tts4", "mixed/audio/spk1_happy_1"] {
        assert!(features.contains_key(id), "{id} has no features: {:?}", features.keys().collect::<Vec<_>>());
    }
    let (a, b) = (&features["mixed/audio/spk0_angry_0"], &features["mixed/audio/twin"]);
    assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    let report = std::fs::read_to_string(ws.path().join("reports/formats/report.md")).unwrap();
    assert!(report.contains("| mlp |"), "{report}");

    // A FLAC file's key holds its decoder; a WAV file's does not (WAV keys are as before).
    let plan = ws.json(&["explain", "pipelines/formats.toml", "manifest/mixed"]);
    assert!(plan.to_string().contains(sertool::audio::decode::SYMPHONIA), "{plan}");

    // Audio that goes missing (a disk not mounted) changes keys, but gc keeps the work it did.
    let gone = root.join("audio/spk1_happy_0.wav");
    let bytes = std::fs::read(&gone).unwrap();
    std::fs::remove_file(&gone).unwrap();
    let gc = ws.json(&["gc", "pipelines/formats.toml"]);
    assert_eq!(gc["removed"], 0, "{gc}");
    assert!(gc["kept_last_runs"].to_string().contains("spk1_happy_0.wav"), "{gc}");
    std::fs::write(&gone, bytes).unwrap();
    let plan = ws.json(&["plan", "pipelines/formats.toml"]);
    assert_eq!(plan["stale"], 0, "the audio is back and so is every entry: {plan}");
}

#[test]
fn cremad_reads_its_mp3_folder() {
    let ws = Workspace::new(3);
    let root = ws.path().join("mp3_only");
    std::fs::create_dir_all(root.join("AudioMP3")).unwrap();
    let fixtures = common::repo().join("tests/data/audio");
    for (i, (src, emo)) in [("tts_en_44k_stereo.mp3", "ANG"), ("tts_en_48k_mono.mp3", "SAD")].iter().enumerate() {
        for actor in [1001, 1002] {
            let name = format!("{actor}_DFA_{emo}_XX.mp3");
            std::fs::copy(fixtures.join(src), root.join("AudioMP3").join(name)).unwrap();
        }
        let _ = i;
    }
    std::fs::write(
        root.join("VideoDemographics.csv"),
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n",
    )
    .unwrap();
    // `ingest` finds AudioMP3 when there is no AudioWAV.
    let out = ws.json(&["ingest", "--kind", "cremad", "mp3_only", "--name", "c"]);
    assert_eq!(out["report"]["utterances"], 4, "{out}");
    let manifest = sertool::table::read_parquet(&ws.path().join("manifests/c.parquet")).unwrap();
    let mut rates = sertool::table::u32s(&manifest, "sample_rate_hz").unwrap();
    rates.sort();
    assert_eq!(rates, [44_100, 44_100, 48_000, 48_000]);
    // A pipeline must say `audio = "mp3"`; without it the error says so.
    let toml = "[pipeline]\nname = \"c\"\n[labels]\nclasses = [\"neutral\", \"happy\", \"angry\", \"sad\"]\n\
                [corpora.c]\nkind = \"cremad\"\nroot = \"../mp3_only\"\n";
    std::fs::write(ws.path().join("pipelines/c.toml"), toml).unwrap();
    let out = ws.cmd(&["plan", "pipelines/c.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("audio = \"mp3\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(ws.path().join("pipelines/c.toml"), toml.to_string() + "audio = \"mp3\"\n").unwrap();
    let plan = ws.json(&["plan", "pipelines/c.toml"]);
    assert!(plan["stages"].as_array().unwrap().iter().any(|s| s["id"] == "manifest/c"), "{plan}");
}
