//! Bad pipeline files: one clear error each (file, line, key, what was expected), exit code 2, no panic.

mod common;

use common::Workspace;

fn run_with(ws: &Workspace, edit: (&str, &str)) -> (Option<i32>, String) {
    ws.edit_pipeline(edit.0, edit.1);
    let out = ws.cmd(&["plan", "pipelines/demo.toml"]);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_pipeline_files_give_one_clear_error_each() {
    let cases: &[((&str, &str), &[&str])] = &[
        // unknown key
        (("snr_db = [20, 10, 5, 0, -5]", "snrs = [20]"), &["@LINE:1", "unknown key \"snrs\" in [mix]", "snr_db"]),
        // wrong type
        (("epochs = 60", "epochs = \"sixty\""), &["@LINE:", "key \"epochs\" in [models.mlp]", "invalid type"]),
        // unset variable (no default)
        (
            ("${SERTOOL_SYNTH:-../data/synth}/cremad_a", "${SERTOOL_NOT_SET_ANYWHERE}/cremad_a"),
            &["@LINE:", "SERTOOL_NOT_SET_ANYWHERE", "not set"],
        ),
        // missing corpus root
        (
            ("${SERTOOL_SYNTH:-../data/synth}/cremad_b", "../data/nowhere"),
            &["@LINE:", "corpus \"synth_b\"", "not a directory"],
        ),
        // experiment naming an unknown corpus
        (("test = [\"synth_a\", \"synth_b\"]", "test = [\"synth_a\", \"synth_c\"]"), &["@LINE:", "synth_c"]),
        // a value that parses but is not allowed
        (("metric = \"uar\"", "metric = \"accuracy\""), &["@LINE:1:", "metric \"accuracy\"", "uar, wa, macro_f1"]),
        // a reference model that is not a model
        (
            ("reference = \"mlp\"", "reference = \"svm\""),
            &["@LINE:1:", "reference \"svm\"", "dann, edrl, edrl_mea, emo_dna, fusion, mbpls, mlp, mlp_multi, mmd"],
        ),
        // a model kind's own check (emo-dna's corpus-level alignment)
        (
            ("warmup_epochs = 10", "alignment = \"cosine\""),
            &["@LINE:1:", "model \"emo_dna\": alignment = \"cosine\"", "mmd or adversarial"],
        ),
        // a matrix SNR outside the grid
        (("matrix_snr_db = 0", "matrix_snr_db = 7"), &["@LINE:1:", "matrix_snr_db = 7", "20, 10, 5, 0, -5"]),
        // TOML syntax
        (("[report]", "[report"), &["@LINE:"]),
    ];
    for (edit, expected) in cases {
        let ws = Workspace::new(3);
        // The line the edit lands on, 1-based: errors must point there.
        let text = std::fs::read_to_string(ws.path().join("pipelines/demo.toml")).unwrap();
        let line = text.lines().position(|l| l.contains(edit.0)).unwrap() + 1;
        let (code, err) = run_with(&ws, *edit);
        assert_eq!(code, Some(2), "{edit:?}: exit code {code:?}, stderr {err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(!err.contains("panicked") && !err.contains("Backtrace"), "{err}");
        for e in *expected {
            let e = &e.replace("@LINE", &format!("pipelines/demo.toml:{line}"));
            assert!(err.contains(e), "{edit:?}: expected {e:?} in: {err}");
        }
    }
}

#[test]
fn missing_pipeline_file_and_bad_arguments_exit_2() {
    let ws = Workspace::new(3);
    let out = ws.cmd(&["run", "pipelines/nope.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.toml"));
    let out = ws.cmd(&["run"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_key_names_its_own_table_and_executor_settings_are_checked() {
    let ws = Workspace::new(3);
    let p = ws.path().join("pipelines/demo.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let header = text.lines().position(|l| l.contains("name = \"from_b\"")).unwrap(); // 1-based line of [[experiments]]
    let (code, err) = run_with(&ws, ("name = \"from_b\"\n", ""));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("pipelines/demo.toml:{header}:")), "{err}");
    assert!(err.contains("`name`") && err.contains("[[experiments]]"), "{err}");
    assert!(!err.contains("[models"), "{err}");

    let tail = "\n[executor.slurm]\nmax_parallel = 4\n\n[executor.slurm.kinds.training]\ngres = \"gpu:1\"\n";
    std::fs::write(&p, format!("{text}{tail}")).unwrap();
    let out = ws.cmd(&["plan", "pipelines/demo.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown stage kind \"training\"") && err.contains("train, eval"), "{err}");
    std::fs::write(&p, format!("{text}\n[executor.slurm]\nparition = \"gpu\"\n")).unwrap();
    let err = String::from_utf8_lossy(&ws.cmd(&["plan", "pipelines/demo.toml"]).stderr).into_owned();
    assert!(err.contains("unknown key \"parition\"") && err.contains("partition"), "{err}");
    // Settings that are fine change no key: the plan is the one without them.
    std::fs::write(&p, &text).unwrap();
    let plain = ws.plan_keys("pipelines/demo.toml");
    std::fs::write(&p, format!("{text}\n[executor.slurm]\npartition = \"gpu\"\nstages_per_task = 8\n")).unwrap();
    assert_eq!(ws.plan_keys("pipelines/demo.toml"), plain);
}

fn plan_error(ws: &Workspace, toml: &str) -> String {
    std::fs::write(ws.path().join("pipelines/p.toml"), toml).unwrap();
    let out = ws.cmd(&["plan", "pipelines/p.toml"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    err
}

#[test]
fn protocol_mistakes_are_plan_errors_that_name_corpus_splits_and_file() {
    let ws = Workspace::new(3);
    let pipeline = |root: &str, extra: &str| {
        format!(
            "[pipeline]\nname = \"p\"\n[labels]\nclasses = [\"neutral\", \"happy\", \"angry\", \"sad\"]\n\
             [corpora.c]\nkind = \"csv\"\nroot = \"../data/{root}\"\nsplit = {{ method = \"column\" }}\n\
             [features]\nkind = \"logmel_stats\"\n{extra}\n[[experiments]]\nname = \"in_c\"\ntrain = [\"c\"]\ntest = [\"c\"]\n"
        )
    };
    // A split name sertool does not know (a typo in the split column).
    common::csv_corpus_with_splits(&ws, "typo", |s| if s == "test" { "tst".into() } else { s.into() });
    let err = plan_error(&ws, &pipeline("typo", "[models.m]\nkind = \"mlp\""));
    assert!(err.contains("p.toml") && err.contains("corpus \"c\" has split \"tst\""), "{err}");
    assert!(err.contains("manifest.csv") && err.contains("labelled utterances by split: dev 12, train "), "{err}");
    // A test corpus without a test split.
    common::csv_corpus_with_splits(&ws, "no_test", |s| if s == "test" { "train".into() } else { s.into() });
    let err = plan_error(&ws, &pipeline("no_test", "[models.m]\nkind = \"mlp\""));
    assert!(
        err.contains("experiment \"in_c\" tests on corpus \"c\", which has no labelled utterance in its test split"),
        "{err}"
    );
    assert!(err.contains("split method \"column\"") && err.contains("dev 12, train "), "{err}");
    // A model kind that cannot use the features: a sequence kind with imported vectors.
    std::fs::write(ws.path().join("data/emb.parquet"), b"").unwrap();
    let toml = pipeline("synth/generic_csv", "[models.m]\nkind = \"ser-seq\"")
        .replace("kind = \"logmel_stats\"", "kind = \"imported\"\npath = \"../data/emb.parquet\"");
    let err = plan_error(&ws, &toml);
    assert!(err.contains("p.toml:") && err.contains("reads audio frames, not feature vectors"), "{err}");
}
