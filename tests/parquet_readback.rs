//! Feature shards read back with the arrow reader equal the features computed in memory from the same
//! audio, and carry their configuration and dimension names as metadata; frame-level sequences
//! (`frames = true`) come back as List<FixedSizeList<f32>> equal to the log-mel frames.

mod common;

use common::Workspace;

#[test]
fn feature_shards_hold_exactly_what_the_extractor_computes() {
    let ws = Workspace::new(3);
    ws.edit_pipeline("kind = \"logmel_stats\"", "kind = \"functionals\"\nframes = true");
    ws.json(&["run", "pipelines/demo.toml"]);
    let cfg = sertool::features::FeatureSpec::default_of("functionals").unwrap();
    let extractor = sertool::features::Extractor::new(&cfg, 16_000).unwrap();
    let logmel = sertool::features::LogMel::new(cfg.logmel().unwrap(), 16_000);
    let audio = sertool::audio::AudioIn { rate: 16_000, channels: sertool::audio::ChannelPolicy::Mean };
    let mut checked = 0;
    for e in std::fs::read_dir(ws.path().join("cache/features")).unwrap().flatten() {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path().join("meta.json")).unwrap()).unwrap();
        if !meta["stage"].as_str().unwrap().contains("/clean/") {
            continue;
        }
        let path = e.path().join("features.parquet");
        let b = sertool::table::read_parquet(&path).unwrap();
        let ids = sertool::table::strings(&b, "id").unwrap();
        let vectors = sertool::table::vectors(&b, "features").unwrap();
        let frames = sertool::table::sequences(&b, "frames").unwrap();
        // Readers project: the training stage reads only id and features.
        let projected = sertool::table::read_parquet_columns(&path, Some(&["id", "features"])).unwrap();
        assert_eq!(projected.num_columns(), 2);
        let file = std::fs::File::open(&path).unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        use parquet::file::reader::FileReader;
        let kv = reader.metadata().file_metadata().key_value_metadata().unwrap().clone();
        let names = kv.iter().find(|k| k.key == "sertool.feature_names").unwrap().value.clone().unwrap();
        let names: Vec<String> = serde_json::from_str(&names).unwrap();
        assert_eq!(names.len(), vectors[0].len());
        for ((id, v), f) in ids.iter().zip(&vectors).zip(&frames).take(3) {
            let (corpus, stem) = id.split_once('/').unwrap();
            let dir = if corpus == "synth_a" { "cremad_a" } else { "cremad_b" };
            let x = audio.load(&ws.path().join(format!("data/synth/{dir}/AudioWAV/{stem}.wav"))).unwrap();
            assert_eq!(&extractor.compute(&x), v, "{id}");
            assert_eq!(&logmel.frames(&x), f, "{id}");
            checked += 1;
        }
    }
    assert!(checked >= 6, "{checked}");
}
