//! The paper-ready report of the demo pipeline (3 seeds): its tables, plots and reproducibility
//! section exist, every number in them equals the metrics recomputed from the predictions the eval
//! stages stored, the significance counts follow from the same predictions, and the LaTeX compiles
//! with pdflatex where pdflatex is installed.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use common::Workspace;
use sertool::models::metrics::{compute, Metrics};
use sertool::report::mean_std;

const CLASSES: [&str; 4] = ["neutral", "happy", "angry", "sad"];

/// One demo run shared by the tests of this file (they only read it).
fn demo() -> &'static Workspace {
    static WS: OnceLock<Workspace> = OnceLock::new();
    WS.get_or_init(|| {
        let ws = Workspace::new(4);
        let s = ws.json(&["run", "pipelines/demo.toml"]);
        assert_eq!(s["failed"], 0);
        ws
    })
}

fn read(ws: &Workspace, rel: &str) -> String {
    std::fs::read_to_string(ws.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// (ids, truth, predicted) of an eval stage (an ensemble's evals are `ensemble` stages), classes as
/// indices.
fn predictions(ws: &Workspace, eval_key: &str) -> (Vec<String>, Vec<usize>, Vec<usize>) {
    let dir = ["cache/eval", "cache/ensemble"]
        .iter()
        .map(|kind| ws.path().join(kind).join(eval_key))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| panic!("no eval or ensemble entry {eval_key}"));
    let b = sertool::table::read_parquet(&dir.join("predictions.parquet")).unwrap();
    let idx =
        |v: Vec<String>| -> Vec<usize> { v.iter().map(|c| CLASSES.iter().position(|k| k == c).unwrap()).collect() };
    (
        sertool::table::strings(&b, "id").unwrap(),
        idx(sertool::table::strings(&b, "true").unwrap()),
        idx(sertool::table::strings(&b, "predicted").unwrap()),
    )
}

struct Row {
    model: String,
    train: String,
    test: String,
    condition: String,
    seed: u64,
    eval_key: String,
    recomputed: Metrics,
}

/// results.csv, each row checked against the metrics recomputed from its stage's predictions.
fn rows_checked_against_predictions(ws: &Workspace) -> Vec<Row> {
    let csv = read(ws, "reports/demo/results.csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let mut rows = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let (_, truth, pred) = predictions(ws, f[col("eval_key")]);
        let m = compute(&truth, &pred, CLASSES.len());
        assert_eq!(f[col("n")].parse::<usize>().unwrap(), m.n, "{line}");
        for (name, want) in [("uar", m.uar), ("wa", m.wa), ("macro_f1", m.macro_f1), ("micro_f1", m.micro_f1)] {
            // Written in shortest round-trip form: equal to the bit.
            assert_eq!(f[col(name)].parse::<f64>().unwrap(), want, "{name} in {line}");
        }
        // The model's train entry; an ensemble trains nothing and names its own entry.
        let trained = ["cache/train", "cache/ensemble"]
            .iter()
            .any(|kind| ws.path().join(kind).join(f[col("train_key")]).join("meta.json").is_file());
        assert!(trained, "{line}");
        rows.push(Row {
            model: f[col("model")].into(),
            train: f[col("train")].into(),
            test: f[col("test")].into(),
            condition: f[col("condition")].into(),
            seed: f[col("seed")].parse().unwrap(),
            eval_key: f[col("eval_key")].into(),
            recomputed: m,
        });
    }
    rows
}

#[test]
fn every_number_equals_the_metrics_recomputed_from_stored_predictions() {
    let ws = demo();
    let rows = rows_checked_against_predictions(ws);
    // (8 models and the fusion ensemble × 3 seeds + 3 sequence models × 1 seed) × 4 train → test pairs
    // × 6 conditions.
    assert_eq!(rows.len(), (9 * 3 + 3) * 4 * 6);
    let results: serde_json::Value = serde_json::from_str(&read(ws, "reports/demo/results.json")).unwrap();
    let md = read(ws, "reports/demo/report.md");
    let tex = read(ws, "reports/demo/tables.tex");

    let mut groups: BTreeMap<(&str, &str, &str, &str), Vec<f64>> = BTreeMap::new();
    for r in &rows {
        groups.entry((&r.model, &r.train, &r.test, &r.condition)).or_default().push(r.recomputed.uar);
    }
    let cells = results["table"].as_array().unwrap();
    assert_eq!(cells.len(), groups.len());
    for ((model, train, test, cond), v) in &groups {
        // The sequence kinds run one seed in the demo; a one-seed cell shows its value alone.
        let seeds = if SEQUENCE_KINDS.contains(model) { 1 } else { 3 };
        assert_eq!(v.len(), seeds, "{model} {train} {test} {cond}: seeds");
        let (mean, std) = mean_std(v);
        let cell = cells
            .iter()
            .find(|c| c["model"] == *model && c["train"] == *train && c["test"] == *test && c["condition"] == *cond)
            .unwrap_or_else(|| panic!("no cell {model}: {train} → {test} {cond}"));
        assert!((cell["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
        assert!((cell["std"].as_f64().unwrap() - std).abs() < 1e-12);
        // The noise-robustness table of the pair shows it in the model's row, and so does the LaTeX.
        let section = md.split(&format!("### {train} → {test}\n")).nth(1).unwrap().split("\n### ").next().unwrap();
        let line = section.lines().find(|l| l.starts_with(&format!("| {model} |"))).unwrap();
        let (text, tex_text) = match seeds {
            1 => (format!("{mean:.3}"), format!("{mean:.3}")),
            _ => (format!("{mean:.3} ± {std:.3}"), format!("{mean:.3} \\pm {std:.3}")),
        };
        assert!(line.contains(&text), "{text} not in {line}");
        assert!(tex.contains(&tex_text), "{text} not in tables.tex");
    }
    // The cross-corpus matrices (clean and 0 dB) read the same cells.
    for (model, train, test, cond) in
        [("edrl", "synth_b", "synth_a", "clean"), ("mbpls", "synth_a", "synth_b", "synth_noise.snr0")]
    {
        let (mean, std) = mean_std(&groups[&(model, train, test, cond)]);
        let label = if cond == "clean" { "clean" } else { "0 dB" };
        let heading = format!("### {model}, {label}\n");
        let section =
            md.split(&heading).nth(1).unwrap_or_else(|| panic!("no {heading}")).split("\n### ").next().unwrap();
        let line = section.lines().find(|l| l.starts_with(&format!("| {train} |"))).unwrap();
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let at = if test == "synth_a" { 2 } else { 3 };
        assert!(cols[at].contains(&format!("{mean:.3} ± {std:.3}")), "{line}");
    }
}

#[test]
fn significance_follows_from_the_same_predictions() {
    let ws = demo();
    let rows = rows_checked_against_predictions(ws);
    let results: serde_json::Value = serde_json::from_str(&read(ws, "reports/demo/results.json")).unwrap();
    assert_eq!(results["reference"], "mlp");
    let comparisons = results["significance"].as_array().unwrap();
    // 11 models (fusion included) against mlp × 4 pairs × 6 conditions.
    assert_eq!(comparisons.len(), 11 * 4 * 6);
    let key = |r: &Row| (r.model.clone(), r.train.clone(), r.test.clone(), r.condition.clone(), r.seed);
    let by: BTreeMap<_, &Row> = rows.iter().map(|r| (key(r), r)).collect();
    for c in comparisons {
        let s = |f: &str| c[f].as_str().unwrap().to_string();
        let b = c["bootstrap"].as_object().unwrap();
        let (lo, hi, delta) =
            (b["ci_low"].as_f64().unwrap(), b["ci_high"].as_f64().unwrap(), b["delta"].as_f64().unwrap());
        assert!(lo <= hi && (0.0..=1.0).contains(&b["p"].as_f64().unwrap()));
        // Δ is the difference of the seed-averaged UARs of the table.
        let avg = |m: &str| -> f64 {
            let seeds = if SEQUENCE_KINDS.contains(&m) { 1 } else { 3 };
            (1..=seeds)
                .map(|seed| by[&(m.to_string(), s("train"), s("test"), s("condition"), seed)].recomputed.uar)
                .sum::<f64>()
                / seeds as f64
        };
        assert!((delta - (avg(&s("model")) - avg("mlp"))).abs() < 1e-12, "{c}");
        for per_seed in c["mcnemar_per_seed"].as_array().unwrap() {
            let seed = per_seed["seed"].as_u64().unwrap();
            let sys = by[&(s("model"), s("train"), s("test"), s("condition"), seed)];
            let refr = by[&("mlp".to_string(), s("train"), s("test"), s("condition"), seed)];
            let (ids_s, truth, pred_s) = predictions(ws, &sys.eval_key);
            let (ids_r, _, pred_r) = predictions(ws, &refr.eval_key);
            assert_eq!(ids_s, ids_r);
            let bc = (0..truth.len()).fold((0, 0), |(b, c), i| {
                let (s_ok, r_ok) = (pred_s[i] == truth[i], pred_r[i] == truth[i]);
                (b + (s_ok && !r_ok) as u64, c + (!s_ok && r_ok) as u64)
            });
            assert_eq!((per_seed["b"].as_u64().unwrap(), per_seed["c"].as_u64().unwrap()), bc, "{c}");
        }
    }
    let csv = read(ws, "reports/demo/significance.csv");
    assert_eq!(csv.lines().count(), comparisons.len() + 1);
}

#[test]
fn plots_latex_and_reproducibility_section_exist() {
    let ws = demo();
    let md = read(ws, "reports/demo/report.md");
    for section in [
        "## Noise robustness",
        "## Cross-corpus",
        "## Significance against mlp",
        "## Plots",
        "## Noise\n",
        "## Reproducibility",
        "### Label mapping and splits",
        "### Stage keys",
    ] {
        assert!(md.contains(section), "report.md has no {section:?}");
    }
    // Every plot linked from the report exists as SVG and PNG.
    let links: Vec<&str> = md.match_indices("](plots/").map(|(i, _)| md[i + 2..].split(')').next().unwrap()).collect();
    // 12 models: eight on features, three sequence models and the fusion ensemble.
    assert_eq!(links.len(), 2 * (4 + 12 * 4), "UAR-vs-SNR per pair and a confusion figure per model and pair");
    for l in links {
        let bytes = std::fs::read(ws.path().join("reports/demo").join(l)).unwrap_or_else(|e| panic!("{l}: {e}"));
        if l.ends_with(".png") {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{l}");
        } else {
            assert!(String::from_utf8(bytes).unwrap().starts_with("<svg"), "{l}");
        }
    }
    // Reproducibility: the pipeline's hash, the tool version, label maps and split sizes as ingested.
    let toml = std::fs::read(ws.path().join("pipelines/demo.toml")).unwrap();
    let sha = sertool::engine::key::hex(&<sha2::Sha256 as sha2::Digest>::digest(&toml));
    assert!(md.contains(&sha) && md.contains(&format!("sertool {}", env!("CARGO_PKG_VERSION"))));
    assert!(md.contains("ANG → angry, HAP → happy, NEU → neutral, SAD → sad"));
    let ingest: serde_json::Value = serde_json::from_str(&read(ws, "manifests/synth_a.ingest.json")).unwrap();
    let split =
        |s: &str| -> u64 { ingest["counts"].as_object().unwrap().values().map(|v| v[s].as_u64().unwrap_or(0)).sum() };
    let row = md.lines().find(|l| l.starts_with("| synth_a | cremad |")).unwrap();
    assert!(row.contains(&format!("| {} | {} | {} |", split("train"), split("dev"), split("test"))), "{row}");
    assert!(md.contains("mixing seed 1") && md.contains("Model seeds: mlp 1, 2, 3"));
    // LaTeX: booktabs, bold best values, significance marks.
    let tex = read(ws, "reports/demo/report.tex");
    for needle in [
        "\\usepackage{booktabs}",
        "\\toprule",
        "\\midrule",
        "\\bottomrule",
        "\\mathbf{",
        "^{\\dagger",
        "\\end{document}",
    ] {
        assert!(tex.contains(needle), "report.tex has no {needle}");
    }
    let parquet = sertool::table::read_parquet(&ws.path().join("reports/demo/results.parquet")).unwrap();
    // Nine models with 3 seeds (eight trained, the fusion ensemble) and three with one seed.
    assert_eq!(parquet.num_rows(), (9 * 3 + 3) * 4 * 6);
}

#[test]
fn latex_report_compiles_with_pdflatex_when_installed() {
    if std::process::Command::new("pdflatex").arg("--version").output().is_err() {
        eprintln!("pdflatex is not installed: skipping (tools/render_latex.sh installs it)");
        return;
    }
    let ws = demo();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(ws.path().join("reports/demo/report.tex"), dir.path().join("report.tex")).unwrap();
    let out = std::process::Command::new("pdflatex")
        .args(["-interaction=nonstopmode", "-halt-on-error", "report.tex"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pdflatex failed:\n{log}");
    let pdf = std::fs::read(dir.path().join("report.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF") && pdf.len() > 10_000, "{} bytes", pdf.len());
}

const SEQUENCE_KINDS: [&str; 3] = ["ser_seq", "se_ser", "se_then_ser"];

/// The sequence kinds train and are evaluated on every condition of every pair, the two that enhance
/// raise SI-SDR over the noisy input at 0 dB on every pair, and only they appear in enhancement.csv.
#[test]
fn sequence_kinds_cover_every_condition_and_enhancement_helps_at_0_db() {
    let ws = demo();
    let csv = read(ws, "reports/demo/results.csv");
    for m in SEQUENCE_KINDS {
        let rows = csv.lines().filter(|l| l.starts_with(&format!("{m},"))).count();
        assert_eq!(rows, 4 * 6, "{m}: 4 train → test pairs × 6 conditions × 1 seed");
    }
    let enh = read(ws, "reports/demo/enhancement.csv");
    let mut lines = enh.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut at_0db = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert!(["se_ser", "se_then_ser"].contains(&f[col("model")]), "{line}");
        if f[col("snr_db")] == "0" {
            let (noisy, enhanced): (f64, f64) =
                (f[col("si_sdr_noisy")].parse().unwrap(), f[col("si_sdr_enhanced")].parse().unwrap());
            assert!(enhanced > noisy + 1.0, "enhancement should raise SI-SDR at 0 dB: {line}");
            at_0db += 1;
        }
    }
    assert_eq!(at_0db, 2 * 4, "two enhancing kinds × 4 pairs");
    let md = read(ws, "reports/demo/report.md");
    assert!(md.contains("## Enhancement") && md.contains("## Noise robustness: Macro-F1"), "{md}");
}

/// `sertool enhance` on a demo mixture writes audio whose SI-SDR against the clean file is what the
/// eval stage reported for that utterance.
#[test]
fn enhance_writes_the_audio_the_eval_scored() {
    let ws = demo();
    let keys = ws.plan_keys("pipelines/demo.toml");
    let key = &keys["eval/se_ser/synth_a/seed1/synth_a/synth_noise.snr0"];
    let b = sertool::table::read_parquet(&ws.path().join("cache/eval").join(key).join("enhancement.parquet")).unwrap();
    let ids = sertool::table::strings(&b, "id").unwrap();
    let scored = sertool::table::f64s(&b, "si_sdr_enhanced").unwrap();
    ws.json(&["mix", "pipelines/demo.toml", "--write-wav", "mixed"]);
    let name = ids[0].rsplit_once('/').unwrap().1;
    let mixture = format!("mixed/synth_a/synth_noise.snr0/{name}.wav");
    let out = ws.json(&["enhance", "--model", "models/demo/se_ser/synth_a/seed1", &mixture, "--out", "enhanced"]);
    assert_eq!(out["enhanced"][0]["out"], format!("enhanced/{name}.wav"));
    let rate = 16_000;
    let load =
        |p: &str| sertool::audio::load_mono(&ws.path().join(p), rate, sertool::audio::ChannelPolicy::Mean).unwrap();
    let clean = load(&format!("data/synth/cremad_a/AudioWAV/{name}.wav"));
    let enhanced = load(&format!("enhanced/{name}.wav"));
    let got = sertool::audio::quality::si_sdr(&clean, &enhanced);
    assert!((got - scored[0]).abs() < 1e-3, "SI-SDR of the written file {got} vs the eval's {}", scored[0]);
    // A model without an enhancement head says so.
    let no = ws.cmd(&["enhance", "--model", "models/demo/ser_seq/synth_a/seed1", &mixture, "--out", "x"]);
    assert_eq!(no.status.code(), Some(2), "{}", String::from_utf8_lossy(&no.stderr));
    assert!(String::from_utf8_lossy(&no.stderr).contains("no enhancement head"));
}
