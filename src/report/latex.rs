//! LaTeX tables (booktabs): tables.tex holds the table environments to `\input` into a paper;
//! report.tex wraps them in a document that compiles on its own with pdflatex (only booktabs and
//! geometry beyond the base distribution).

use super::tables::{Table, Tables};
use super::{metric_label, Cell, Results};

/// Text set in LaTeX: specials escaped, arrows and minus signs as math.
pub fn escape(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        match ch {
            '_' | '&' | '%' | '#' | '$' | '{' | '}' => {
                out.push('\\');
                out.push(ch);
            }
            '\\' => out.push_str("\\textbackslash{}"),
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '→' => out.push_str("$\\rightarrow$"),
            '±' => out.push_str("$\\pm$"),
            '−' => out.push_str("$-$"),
            '–' => out.push_str("--"),
            _ => out.push(ch),
        }
    }
    out
}

fn cell(c: &Cell, bold: bool) -> String {
    let body = if c.seeds > 1 { format!("{:.3} \\pm {:.3}", c.mean, c.std) } else { format!("{:.3}", c.mean) };
    let body = if bold { format!("\\mathbf{{{body}}}") } else { body };
    let interval = c.interval.map(|(lo, hi)| format!("\\,{{\\scriptstyle[{lo:.3}, {hi:.3}]}}")).unwrap_or_default();
    let mark = |on: bool, m: &'static str| if on { m } else { "" };
    let marks =
        format!("{}{}{}", mark(c.mcnemar, "\\dagger"), mark(c.sign_flip, "\\ddagger"), mark(c.transductive, "\\S"));
    if marks.is_empty() {
        format!("${body}{interval}$")
    } else {
        format!("${body}^{{{marks}}}{interval}$")
    }
}

fn table(t: &Table, caption: &str) -> String {
    let best = t.best();
    let mut s = String::from("\\begin{table}[htbp]\n\\centering\n\\small\n\\setlength{\\tabcolsep}{4pt}\n");
    s.push_str(&format!("\\caption{{{caption}}}\n\\label{{tab:{}}}\n", t.id));
    s.push_str(&format!("\\begin{{tabular}}{{l{}}}\n\\toprule\n", "r".repeat(t.columns.len())));
    // "-5 dB" with a true minus sign.
    let header: Vec<String> = t
        .columns
        .iter()
        .map(|c| escape(c).replace(" -", " $-$").replacen('-', "$-$", c.starts_with('-') as usize))
        .collect();
    s.push_str(&format!("{} & {} \\\\\n\\midrule\n", escape(&t.corner), header.join(" & ")));
    for row in &t.rows {
        let mut cells = vec![escape(&row.label)];
        for (c, best) in row.cells.iter().zip(&best) {
            cells.push(match c {
                Some(c) => cell(c, t.bold(best, c)),
                None => "--".into(),
            });
        }
        s.push_str(&format!("{} \\\\\n", cells.join(" & ")));
    }
    if t.mdd.iter().any(Option::is_some) {
        let mdd: Vec<String> = t.mdd.iter().map(|m| m.map_or("--".into(), |m| format!("\\textit{{{m:.3}}}"))).collect();
        s.push_str(&format!("\\midrule\n\\textit{{MDD (80\\% power)}} & {} \\\\\n", mdd.join(" & ")));
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n\\end{table}\n");
    s
}

fn legend(r: &Results) -> String {
    let rep = &r.p.report;
    let unit = if rep.bootstrap_unit == "speaker" { "speakers" } else { "utterances" };
    let mut s = format!("{} (mean $\\pm$ std over {} seed(s)", metric_label(r.metric), r.seeds.len());
    if rep.bootstrap_resamples > 0 {
        s.push_str(&format!(
            "; in brackets its {}\\% interval from a bootstrap of the test set's {unit}); bold: best in column and \
             models a paired sign-flip test on the same {unit} cannot separate from it ($p \\geq {}$).",
            (rep.confidence * 100.0).round(),
            rep.alpha
        ));
    } else {
        s.push_str("); bold: best in column.");
    }
    s.push_str(&format!(
        " MDD: minimum detectable difference at 80\\% power, level {}, for the test set's size and {unit}.",
        rep.alpha
    ));
    if let Some(reference) = r.reference() {
        s.push_str(&format!(
            " $^{{\\dagger}}$: McNemar $p < {a}$, $^{{\\ddagger}}$: sign-flip $p < {a}$ against {}.",
            escape(reference),
            a = r.p.report.alpha
        ));
    }
    if r.any_transductive() {
        s.push_str(" $^{\\S}$: transductive (adapted on the test corpus's unlabeled test-split audio).");
    }
    s
}

/// (tables.tex, report.tex)
pub fn render(r: &Results, tables: &Tables) -> (String, String) {
    let legend = legend(r);
    let mut fragment = format!(
        "% sertool {}: tables of pipeline {} (needs \\usepackage{{booktabs}}).\n",
        crate::TOOL_VERSION,
        r.p.pipeline.name
    );
    let mut floats: Vec<String> = tables
        .robustness
        .iter()
        .map(|t| table(t, &format!("Noise robustness, {}. {legend}", escape(&t.title))))
        .collect();
    floats.extend(
        tables
            .matrices
            .iter()
            .map(|t| table(t, &format!("Cross-corpus, {}: rows train, columns test. {legend}", escape(&t.title)))),
    );
    for f in &floats {
        fragment.push_str(&format!("\n{f}"));
    }
    // LaTeX holds at most 18 unplaced floats: flush the page every three tables (about what a page holds).
    let body: Vec<String> = floats.chunks(3).map(|c| c.join("\n")).collect();
    let standalone = format!(
        "\\documentclass[10pt]{{article}}\n\\usepackage[a4paper,margin=1.5cm]{{geometry}}\n\\usepackage{{booktabs}}\n\\begin{{document}}\n\\section*{{{} --- {}}}\n{}\\end{{document}}\n",
        escape(&r.p.pipeline.name),
        metric_label(r.metric),
        body.join("\\clearpage\n")
    );
    (fragment, standalone)
}
