//! Names of corpora, noise sources and models are single safe path components (config/names.rs): a bad
//! one is exit 2 with one line naming the file, the line and the rule, and nothing is written outside
//! the workspace.

mod common;

use common::Workspace;

const RULE: &str = "names are 1 to 64 ASCII letters, digits, '_', '-' or '.', not starting with '.'";

#[test]
fn bad_names_are_one_line_errors_at_their_header() {
    let ws = Workspace::new(3);
    let original = std::fs::read_to_string(ws.path().join("pipelines/demo.toml")).unwrap();
    for (header, what) in
        [("[models.mlp]", "model"), ("[corpora.synth_a]", "corpus"), ("[noise.synth_noise]", "noise source")]
    {
        for bad in ["../x", "/abs", "a+b", "a/b", "a b"] {
            let section = header.trim_matches(['[', ']']).split('.').next().unwrap();
            let quoted = bad;
            std::fs::write(
                ws.path().join("pipelines/demo.toml"),
                original.replacen(header, &format!("[{section}.\"{quoted}\"]"), 1),
            )
            .unwrap();
            let line = original.lines().position(|l| l == header).unwrap() + 1;
            for verb in ["plan", "run"] {
                let out = ws.cmd(&[verb, "pipelines/demo.toml"]);
                let err = String::from_utf8_lossy(&out.stderr);
                assert_eq!(out.status.code(), Some(2), "{verb} {bad:?} in {header}: {err}");
                assert_eq!(err.trim_end().lines().count(), 1, "{err}");
                let at = format!("error: pipelines/demo.toml:{line}:1: {what} name ");
                assert!(err.starts_with(&at) && err.contains(RULE), "{bad:?} in {header}: {err}");
            }
        }
    }
    // Nothing was written: no cache, no published folders, nothing beside the workspace.
    let mut entries: Vec<String> =
        std::fs::read_dir(ws.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into()).collect();
    entries.sort();
    assert!(entries.iter().all(|e| ["cache", "data", "pipelines"].contains(&e.as_str())), "{entries:?}");
    assert!(!ws.path().join("models").exists() && !ws.path().parent().unwrap().join("x").exists());
}

#[test]
fn an_escaping_model_name_publishes_nothing_outside_the_project() {
    let ws = Workspace::new(3);
    let escape = format!("sertool_escape_{}", std::process::id());
    ws.edit_pipeline("[models.mlp]", &format!("[models.\"../../../{escape}\"]"));
    let out = ws.cmd(&["run", "pipelines/demo.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!ws.path().parent().unwrap().join(&escape).exists());
    assert!(!ws.path().join("models").exists());
}

#[test]
fn names_that_differ_only_by_case_collide() {
    let ws = Workspace::new(3);
    ws.edit_pipeline("[models.edrl]", "[models.MLP]");
    let out = ws.cmd(&["plan", "pipelines/demo.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("pipelines/demo.toml:") && err.contains("\"MLP\" and \"mlp\" differ only by case"), "{err}");
}

/// Only a kind's own options reach its train key: an EDRL loss weight retrains EDRL (and what reads it:
/// its evals, the `fusion` ensemble that fuses them, the report), not the other models.
#[test]
fn an_edrl_option_changes_only_edrl_keys() {
    let ws = Workspace::new(3);
    let keys = |ws: &Workspace| ws.plan_keys("pipelines/demo.toml");
    let before = keys(&ws);
    ws.edit_pipeline("[models.edrl]\nkind = \"edrl\"", "[models.edrl]\nkind = \"edrl\"\nloss_recon = 2.0");
    let after = keys(&ws);
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    let changed: Vec<&String> = before.iter().filter(|(id, k)| after[*id] != **k).map(|(id, _)| id).collect();
    assert!(changed.iter().any(|id| id.starts_with("train/edrl/")), "{changed:?}");
    for id in &changed {
        assert!(
            id.starts_with("train/edrl/")
                || id.starts_with("eval/edrl/")
                || id.starts_with("eval/fusion/")
                || id.starts_with("report/"),
            "{id} changed"
        );
    }
    // The same key on a kind that does not read it is an error that lists the kind's keys.
    ws.edit_pipeline("[models.mlp]\nkind = \"mlp\"", "[models.mlp]\nkind = \"mlp\"\nloss_recon = 2.0");
    let out = ws.cmd(&["plan", "pipelines/demo.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "unknown key \"loss_recon\" in [models.mlp] (kind \"mlp\"; expected one of: batch_size, epochs, hidden,"
        ),
        "{err}"
    );
}
