//! report.md: the tables, the comparisons with the reference, links to the plots, the noise section
//! and the reproducibility section.

use super::tables::{cell_text, interval_text, ordered_comparisons, Table, Tables};
use super::{metric_label, repro, ReportData, Results};

fn marks(c: &super::Cell) -> String {
    let mark = |on: bool, m: &'static str| if on { m } else { "" };
    format!("{}{}{}", mark(c.mcnemar, "†"), mark(c.sign_flip, "‡"), mark(c.transductive, "§"))
}

pub fn table(t: &Table) -> String {
    let best = t.best();
    let mut md = format!("| {} | {} |\n", t.corner, t.columns.join(" | "));
    md.push_str(&format!("|---|{}\n", "---:|".repeat(t.columns.len())));
    for row in &t.rows {
        md.push_str(&format!("| {} |", row.label));
        for (c, best) in row.cells.iter().zip(&best) {
            match c {
                Some(c) => {
                    let text = cell_text(c);
                    let text = if t.bold(best, c) { format!("**{text}**") } else { text };
                    md.push_str(&format!(" {text}{}{} |", marks(c), interval_text(c)));
                }
                None => md.push_str(" – |"),
            }
        }
        md.push('\n');
    }
    if t.mdd.iter().any(Option::is_some) {
        md.push_str("| *MDD (80% power)* |");
        for m in &t.mdd {
            md.push_str(&m.map_or(" – |".to_string(), |m| format!(" *{m:.3}* |")));
        }
        md.push('\n');
    }
    md
}

fn legend(r: &Results) -> String {
    let rep = &r.p.report;
    let unit = if rep.bootstrap_unit == "speaker" { "speakers" } else { "utterances" };
    let mut s =
        format!("Cells: {} as mean ± std over {} seed(s) ({})", metric_label(r.metric), r.seeds.len(), r.seeds_text());
    if rep.bootstrap_resamples > 0 {
        s.push_str(&format!(
            ", then its {}% interval from a bootstrap that resamples the test set's {unit} ({} resamples); \
             **bold**: best in its column, and every model a paired sign-flip test on the same {unit} cannot \
             separate from it (p ≥ {}): a tie.",
            (rep.confidence * 100.0).round(),
            rep.bootstrap_resamples,
            rep.alpha
        ));
    } else {
        s.push_str("; **bold**: best in its column.");
    }
    s.push_str(&format!(
        " *MDD*: the smallest difference a paired comparison on that test set detects with 80% power at level {} \
         (two proportions at the accuracy of the reference, or of the first model where it has no cell; effective \
         size n / design effect of its {unit}): an accuracy-based guide, whatever the metric.",
        rep.alpha
    ));
    if let Some(reference) = r.reference() {
        s.push_str(&format!(
            " Against the reference `{reference}` on the same utterances: † McNemar p < {a}, ‡ sign-flip p < {a}.",
            a = rep.alpha
        ));
    }
    if r.any_transductive() {
        s.push_str(" § transductive: the model adapted on the test corpus's test-split audio (never its labels).");
    }
    s
}

fn p_text(p: f64, resamples: usize) -> String {
    if resamples > 0 && p == 0.0 {
        format!("< {}", 1.0 / resamples as f64)
    } else if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

fn significance(r: &Results) -> String {
    let Some(reference) = r.reference() else { return String::new() };
    let rows = ordered_comparisons(r);
    if rows.is_empty() {
        return String::new();
    }
    let label = metric_label(r.metric);
    let conf = (r.p.report.confidence * 100.0).round();
    let unit = &r.p.report.bootstrap_unit;
    let mut md = format!("\n## Significance against {reference}\n\n");
    md.push_str(&format!(
        "Δ = model − {reference} in seed-averaged {label} on the same test utterances, with its {conf}% paired-bootstrap interval \
         (the same {unit}s resampled for both); sign-flip: the two systems' seed ensembles swapped on each {unit} at random, \
         p = (1 + #|Δ*| ≥ |Δ|) / (1 + R); McNemar: utterances only the model (b) or only {reference} (c) gets right, seed \
         ensembles, exact p.\n\n"
    ));
    md.push_str(&format!(
        "| model | train → test | condition | n | {unit}s | Δ {label} | {conf}% CI | b / c | p McNemar | p bootstrap | p sign-flip |\n|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|\n"
    ));
    for c in rows {
        let (delta, ci, pb) = match &c.bootstrap {
            Some(b) => {
                (format!("{:+.3}", b.delta), format!("[{:+.3}, {:+.3}]", b.ci_low, b.ci_high), p_text(b.p, b.resamples))
            }
            None => ("–".into(), "–".into(), "–".into()),
        };
        let pf = c.sign_flip.as_ref().map_or("–".into(), |f| p_text(f.p, 0));
        md.push_str(&format!(
            "| {} | {} → {} | {} | {} | {} | {delta} | {ci} | {} / {} | {} | {pb} | {pf} |\n",
            c.model,
            c.train,
            c.test,
            r.condition(&c.condition).map_or(c.condition.clone(), |x| r.condition_label(x)),
            c.utterances,
            c.clusters,
            c.mcnemar.b,
            c.mcnemar.c,
            p_text(c.mcnemar.p_exact, 0)
        ));
    }
    md
}

pub fn render(
    r: &Results,
    tables: &Tables,
    data: &ReportData,
    plots: &[String],
    extra: &[(Results, Tables)],
    protocol: &serde_json::Value,
) -> String {
    let mut md = format!("# {} — {}\n\n", r.p.pipeline.name, metric_label(r.metric));
    md.push_str(&legend(r));
    md.push_str(&format!(
        " Chance level is {:.3} ({} classes: {}).\n",
        1.0 / r.p.labels.classes.len() as f64,
        r.p.labels.classes.len(),
        r.p.labels.classes.join(", ")
    ));
    md.push_str("\n## Noise robustness\n\nRows: models; columns: clean and each SNR of unseen test noise.\n");
    for t in &tables.robustness {
        md.push_str(&format!("\n### {}\n\n{}", t.title, table(t)));
    }
    if !tables.matrices.is_empty() {
        md.push_str("\n## Cross-corpus\n\nRows: training corpora; columns: test corpora (in-corpus cells test on held-out speakers).\n");
        for t in &tables.matrices {
            md.push_str(&format!("\n### {}\n\n{}", t.title, table(t)));
        }
    }
    for (xr, xt) in extra {
        md.push_str(&format!(
            "\n## Noise robustness: {}\n\nThe tables above measured by {} (`[report] metrics`); marks test this metric.\n",
            metric_label(xr.metric),
            metric_label(xr.metric)
        ));
        for t in &xt.robustness {
            md.push_str(&format!("\n### {}\n\n{}", t.title, table(t)));
        }
    }
    md.push_str(&super::sweep::markdown(r, &data.trains));
    md.push_str(&super::enhancement::markdown(r));
    md.push_str(&significance(r));
    if !plots.is_empty() {
        md.push_str("\n## Plots\n\nEach as SVG and PNG in plots/.\n\n");
        for name in plots.iter().filter(|n| n.ends_with(".svg")) {
            let stem = name.trim_end_matches(".svg");
            md.push_str(&format!("- [{stem}](plots/{name}) ([PNG](plots/{stem}.png))\n"));
        }
    }
    md.push_str(&repro::noise_markdown(r.p, data));
    md.push_str(&super::protocol::markdown(protocol));
    md.push_str(&repro::markdown(r, data));
    md.push_str(
        "\nTraining wall-clock times are in training.md next to this file (they vary from run to run, so they \
         stay out of this byte-reproducible report).\n",
    );
    md
}
