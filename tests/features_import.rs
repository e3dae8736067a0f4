//! Imported embeddings (`[features] kind = "imported"`): vectors computed elsewhere and joined to the
//! manifest by utterance id and condition. Importing the very vectors sertool computed must give the
//! same results to the last digit; a missing row is a clear error that names the utterance.

mod common;

use common::Workspace;

/// Every feature shard in the cache as (id, condition, vector), the way a user's script would export them.
/// The unlabeled shards a domain-adaptation model reads (`unlabeled-<split>`) are clean audio, so their
/// rows are clean rows (once per utterance: a labeled train utterance is in both kinds of shard).
fn export_features(ws: &Workspace) -> Vec<(String, String, Vec<f32>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(ws.path().join("cache/features")).unwrap().flatten() {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path().join("meta.json")).unwrap()).unwrap();
        let condition = meta["stage"].as_str().unwrap().split('/').nth(2).unwrap().to_string();
        let condition = if condition.starts_with("unlabeled-") { "clean".to_string() } else { condition };
        let b = sertool::table::read_parquet(&e.path().join("features.parquet")).unwrap();
        let ids = sertool::table::strings(&b, "id").unwrap();
        let vectors = sertool::table::vectors(&b, "features").unwrap();
        out.extend(ids.into_iter().zip(vectors).map(|(i, v)| (i, condition.clone(), v)));
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    out
}

fn write_embeddings(path: &std::path::Path, rows: &[(String, String, Vec<f32>)]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let b = sertool::table::Columns::new()
        .strings("id", rows.iter().map(|r| &r.0))
        .strings("condition", rows.iter().map(|r| &r.1))
        .vectors("embedding", rows[0].2.len(), &rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>())
        .batch()
        .unwrap();
    sertool::table::write_parquet(path, &b, &[]).unwrap();
}

#[test]
fn imported_vectors_reproduce_computed_results_and_missing_rows_are_named() {
    let ws = Workspace::new(3);
    ws.json(&["run", "pipelines/demo.toml"]);
    let computed = std::fs::read(ws.path().join("reports/demo/results.csv")).unwrap();
    let rows = export_features(&ws);
    let emb = ws.path().join("emb/embeddings.parquet");
    write_embeddings(&emb, &rows);

    // An imported table has only imported's keys (path, ids, column), not the demo's log-mel ones.
    ws.edit_pipeline(
        "kind = \"logmel_stats\"\nn_mels = 64\nwin_ms = 25\nhop_ms = 10\nn_fft = 512",
        "kind = \"imported\"\npath = \"../emb/embeddings.parquet\"",
    );
    // Imported vectors have no audio to mix for multi-condition training: that model trains clean here.
    ws.edit_pipeline("train_conditions = [\"clean\", \"snr10\", \"snr0\"]\n", "");
    // The sequence models read audio, not vectors: they leave this pipeline (and the comparison); the
    // `fusion` ensemble after them stays (its members do).
    let file = ws.path().join("pipelines/demo.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let (start, end) = (text.find("[models.ser_seq]").unwrap(), text.find("[models.fusion]").unwrap());
    std::fs::write(&file, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let s = ws.json(&["run", "pipelines/demo.toml"]);
    assert!(common::with_status(&s, "ran").iter().all(|id| !id.starts_with("mix/")), "imported features mix nothing");
    let imported = std::fs::read(ws.path().join("reports/demo/results.csv")).unwrap();
    // `mbpls` splits computed log-mel features into mean and std blocks; an imported vector is one block.
    // `mlp_multi` trained multi-condition on computed features and clean-only on imported ones.
    // The last two columns are stage keys, which differ with the feature settings.
    let same_blocks = |b: &[u8]| -> String {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| {
                !["mbpls,", "mlp_multi,", "ser_seq,", "se_ser,", "se_then_ser,"].iter().any(|m| l.starts_with(m))
            })
            .map(|l| l.rsplitn(3, ',').nth(2).unwrap_or(l).to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(same_blocks(&imported), same_blocks(&computed));

    // Drop the clean row of one utterance: it becomes a fault that names it; the rest runs.
    let gone = rows.iter().find(|r| r.1 == "clean").unwrap().0.clone();
    let fewer: Vec<_> = rows.iter().filter(|r| !(r.0 == gone && r.1 == "clean")).cloned().collect();
    write_embeddings(&emb, &fewer);
    let s = ws.json(&["run", "pipelines/demo.toml"]);
    let faults: Vec<&serde_json::Value> = s["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["id"].as_str().unwrap().contains("/clean/") && st["faults"].as_u64().unwrap_or(0) > 0)
        .collect();
    // (Other shards have gaps too: the export has no rows where audio was unreadable or a mix was skipped.)
    let recorded: String = faults
        .iter()
        .map(|st| {
            let key = st["key"].as_str().unwrap();
            std::fs::read_to_string(ws.path().join(format!("cache/features/{key}/faults.json"))).unwrap()
        })
        .collect();
    assert!(recorded.contains(&format!("\"{gone}\"")) && recorded.contains("no imported row"), "{recorded}");

    // Ids in another format (no corpus prefix) match nothing: an error that shows both sides.
    let bare: Vec<_> =
        rows.iter().map(|r| (r.0.split_once('/').unwrap().1.to_string(), r.1.clone(), r.2.clone())).collect();
    write_embeddings(&emb, &bare);
    let out = ws.cmd(&["run", "pipelines/demo.toml"]);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    // Bad input found inside a stage is exit 2, as at plan time.
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("none of the") && all.contains("the file has \"1001_"), "{all}");

    // An NPY matrix without its ids file is refused when the pipeline is read.
    std::fs::write(ws.path().join("emb/e.npy"), b"\x93NUMPY").unwrap();
    ws.edit_pipeline("path = \"../emb/embeddings.parquet\"", "path = \"../emb/e.npy\"");
    let out = ws.cmd(&["plan", "pipelines/demo.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("demo.toml:") && err.contains("needs ids = "), "{err}");
}
