//! Plots (plotters), each as SVG and PNG: the metric against SNR per model for every train → test pair,
//! and row-normalised confusion matrices (counts summed over seeds) per model and pair, clean beside
//! the matrix SNR. Text is set in DejaVu Sans, compiled in, so a PNG looks the same on every machine.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rayon::prelude::*;

use super::tables::file_safe;
use super::{metric_label, Results};
use crate::records::Condition;

const FONT: &str = "sans-serif";
/// Okabe–Ito: distinguishable for colour-blind readers.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

fn register_font() -> anyhow::Result<()> {
    static LOADED: OnceLock<bool> = OnceLock::new();
    let loaded = *LOADED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    anyhow::ensure!(loaded, "the compiled-in DejaVu Sans font could not be loaded");
    Ok(())
}

/// One line of an SNR plot: a model's mean ± std per condition (None where it was not evaluated).
struct Line {
    label: String,
    points: Vec<Option<(f64, f64)>>,
}

struct SnrPlot {
    title: String,
    x_labels: Vec<String>,
    y_label: String,
    chance: f64,
    lines: Vec<Line>,
}

struct ConfusionPlot {
    title: String,
    classes: Vec<String>,
    /// (panel title, counts[true][predicted])
    panels: Vec<(String, Vec<Vec<u64>>)>,
}

enum Plot {
    Snr(SnrPlot),
    Confusion(ConfusionPlot),
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_snr<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, p: &SnrPlot) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let k = p.x_labels.len() as i32;
    let mut chart = ChartBuilder::on(root)
        .caption(&p.title, (FONT, 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(56)
        .build_cartesian_2d((0..k - 1).into_segmented(), 0f64..1f64)?;
    let labels = p.x_labels.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(1)
        .x_labels(p.x_labels.len() + 1)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_labels(11)
        .y_desc(&p.y_label)
        .x_desc("condition")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()?;
    chart.draw_series(DashedLineSeries::new(
        [(SegmentValue::Exact(0), p.chance), (SegmentValue::Last, p.chance)],
        6,
        4,
        RGBColor(120, 120, 120).stroke_width(1),
    ))?;
    for (n, line) in p.lines.iter().enumerate() {
        let color = PALETTE[n % PALETTE.len()];
        let pts: Vec<(SegmentValue<i32>, f64, f64)> = line
            .points
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|(m, s)| (SegmentValue::CenterOf(i as i32), m, s)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.iter().map(|(x, m, _)| (x.clone(), *m)), color.stroke_width(2)))?
            .label(line.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(
            pts.iter().map(|(x, m, s)| ErrorBar::new_vertical(x.clone(), m - s, *m, m + s, color.stroke_width(1), 8)),
        )?;
        chart.draw_series(pts.iter().map(|(x, m, _)| Circle::new((x.clone(), *m), 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font((FONT, 13))
        .draw()?;
    root.present()
}

/// White to blue by the row-normalised value.
fn shade(v: f64) -> RGBColor {
    let lerp = |to: u8| (255.0 - (255.0 - to as f64) * v.clamp(0.0, 1.0)).round() as u8;
    RGBColor(lerp(8), lerp(69), lerp(148))
}

fn draw_confusion<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, p: &ConfusionPlot) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let root = root.titled(&p.title, (FONT, 18))?;
    let panels = root.split_evenly((1, p.panels.len().max(1)));
    let c = p.classes.len() as i32;
    let centre = Pos::new(HPos::Center, VPos::Center);
    for (area, (title, counts)) in panels.iter().zip(&p.panels) {
        let (w, h) = area.dim_in_pixel();
        let (left, top, bottom) = (96i32, 34i32, 64i32);
        let cell = ((w as i32 - left - 16).min(h as i32 - top - bottom) / c.max(1)).max(8);
        let x0 = left;
        area.draw(&Text::new(
            title.clone(),
            (x0 + cell * c / 2, 14),
            (FONT, 15).into_font().color(&BLACK).pos(centre),
        ))?;
        for (i, row) in counts.iter().enumerate() {
            let total: u64 = row.iter().sum();
            for (j, &n) in row.iter().enumerate() {
                let v = if total > 0 { n as f64 / total as f64 } else { 0.0 };
                let (x, y) = (x0 + j as i32 * cell, top + i as i32 * cell);
                area.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], shade(v).filled()))?;
                area.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], RGBColor(200, 200, 200).stroke_width(1)))?;
                let ink = if v > 0.5 { WHITE } else { BLACK };
                area.draw(&Text::new(
                    format!("{v:.2}"),
                    (x + cell / 2, y + cell / 2 - 7),
                    (FONT, 14).into_font().color(&ink).pos(centre),
                ))?;
                area.draw(&Text::new(
                    format!("n={n}"),
                    (x + cell / 2, y + cell / 2 + 10),
                    (FONT, 10).into_font().color(&ink).pos(centre),
                ))?;
            }
        }
        for (k, name) in p.classes.iter().enumerate() {
            let mid = k as i32 * cell + cell / 2;
            let right = Pos::new(HPos::Right, VPos::Center);
            area.draw(&Text::new(name.clone(), (x0 - 6, top + mid), (FONT, 13).into_font().color(&BLACK).pos(right)))?;
            let below = Pos::new(HPos::Center, VPos::Top);
            area.draw(&Text::new(
                name.clone(),
                (x0 + mid, top + c * cell + 6),
                (FONT, 13).into_font().color(&BLACK).pos(below),
            ))?;
        }
        area.draw(&Text::new(
            "predicted",
            (x0 + c * cell / 2, top + c * cell + 32),
            (FONT, 13).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
        area.draw(&Text::new(
            "true",
            (4, top + c * cell / 2),
            (FONT, 13).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    root.present()
}

fn size(plot: &Plot) -> (u32, u32) {
    match plot {
        Plot::Snr(_) => (760, 470),
        Plot::Confusion(c) => (390 * c.panels.len().max(1) as u32, 430),
    }
}

fn svg(plot: &Plot) -> anyhow::Result<String> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, size(plot)).into_drawing_area();
        match plot {
            Plot::Snr(p) => draw_snr(&root, p),
            Plot::Confusion(p) => draw_confusion(&root, p),
        }
        .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(s)
}

fn png(plot: &Plot) -> anyhow::Result<Vec<u8>> {
    let (w, h) = size(plot);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        match plot {
            Plot::Snr(p) => draw_snr(&root, p),
            Plot::Confusion(p) => draw_confusion(&root, p),
        }
        .map_err(|e| anyhow!("{e}"))?;
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&rgb)?;
    Ok(out)
}

/// Every plot with its file stem. Stems are readable (`confusion_<model>_<train>_to_<test>`), but names
/// may hold `_` and train sets `+` (written `_`), so two plots can want one stem (model `a_b` on corpus
/// `c`, model `a` on `b_c`): those get a suffix from a hash of what they show, so none overwrites another.
fn plan(r: &Results) -> Vec<(String, Plot)> {
    unique_stems(plan_named(r))
}

/// (stem, identity, plot): the identity names what the plot shows, unambiguously.
fn unique_stems(plots: Vec<(String, String, Plot)>) -> Vec<(String, Plot)> {
    let mut count: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (stem, _, _) in &plots {
        *count.entry(stem.clone()).or_default() += 1;
    }
    plots
        .into_iter()
        .map(|(stem, identity, plot)| {
            if count[&stem] > 1 {
                let h = crate::rng::stable_u64(0, &[&identity]);
                (format!("{stem}_{:08x}", h >> 32), plot)
            } else {
                (stem, plot)
            }
        })
        .collect()
}

fn plan_named(r: &Results) -> Vec<(String, String, Plot)> {
    let mut out = Vec::new();
    let noises: Vec<Option<&str>> = {
        let mut n: Vec<Option<&str>> = r.conditions.iter().filter_map(|c| c.noise.as_deref()).map(Some).collect();
        n.dedup();
        if n.is_empty() {
            vec![None]
        } else {
            n
        }
    };
    let chance = 1.0 / r.p.labels.classes.len() as f64;
    for (train, test) in &r.pairs {
        for noise in &noises {
            let conds: Vec<&Condition> =
                r.conditions.iter().filter(|c| c.noise.is_none() || c.noise.as_deref() == *noise).collect();
            let lines = r
                .models
                .iter()
                .map(|m| Line {
                    label: m.clone(),
                    points: conds.iter().map(|c| r.cell(m, train, test, &c.name).map(|c| (c.mean, c.std))).collect(),
                })
                .filter(|l| l.points.iter().any(Option::is_some))
                .collect();
            let suffix = match noise {
                Some(n) if noises.len() > 1 => format!("_{n}"),
                _ => String::new(),
            };
            out.push((
                file_safe(&format!("{}_vs_snr_{train}_to_{test}{suffix}", r.metric)),
                format!("snr\u{0}{train}\u{0}{test}\u{0}{}", noise.unwrap_or_default()),
                Plot::Snr(SnrPlot {
                    title: format!("{train} → {test}{}", noise.map(|n| format!(" ({n})")).unwrap_or_default()),
                    x_labels: conds.iter().map(|c| r.condition_label(c)).collect(),
                    y_label: format!("{} (mean ± std over seeds)", metric_label(r.metric)),
                    chance,
                    lines,
                }),
            ));
        }
        for m in &r.models {
            let panels: Vec<(String, Vec<Vec<u64>>)> = r
                .matrix_conditions()
                .into_iter()
                .filter_map(|c| {
                    let key = (m.clone(), train.clone(), test.clone(), c.name.clone());
                    let evals = r.groups.get(&key)?;
                    let n = r.p.labels.classes.len();
                    let mut sum = vec![vec![0u64; n]; n];
                    for e in evals {
                        for (srow, row) in sum.iter_mut().zip(&e.metrics.confusion) {
                            for (s, v) in srow.iter_mut().zip(row) {
                                *s += v;
                            }
                        }
                    }
                    Some((r.condition_label(c), sum))
                })
                .collect();
            if panels.is_empty() {
                continue;
            }
            out.push((
                file_safe(&format!("confusion_{m}_{train}_to_{test}")),
                format!("confusion\u{0}{m}\u{0}{train}\u{0}{test}"),
                Plot::Confusion(ConfusionPlot {
                    title: format!("{m}: {train} → {test} (recall per true class; counts over seeds)"),
                    classes: r.p.labels.classes.clone(),
                    panels,
                }),
            ));
        }
    }
    out
}

/// Draw every plot into `dir` as SVG and PNG; the file names, in order.
pub fn draw(r: &Results, dir: &Path) -> anyhow::Result<Vec<String>> {
    register_font()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let plots = plan(r);
    let written: Vec<anyhow::Result<[String; 2]>> = plots
        .par_iter()
        .map(|(stem, plot)| {
            let (s, p) = (format!("{stem}.svg"), format!("{stem}.png"));
            std::fs::write(dir.join(&s), svg(plot).with_context(|| format!("drawing {s}"))?)?;
            std::fs::write(dir.join(&p), png(plot).with_context(|| format!("drawing {p}"))?)?;
            Ok([s, p])
        })
        .collect();
    let mut names = Vec::new();
    for w in written {
        names.extend(w?);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confusion(title: &str) -> Plot {
        Plot::Confusion(ConfusionPlot { title: title.into(), classes: vec![], panels: vec![] })
    }

    #[test]
    fn plots_that_want_one_file_name_get_distinct_ones() {
        // model a_b on corpus c and model a on corpus b_c both read confusion_a_b_c_to_c.
        let stem = file_safe("confusion_a_b_c_to_c");
        assert_eq!(stem, file_safe("confusion_a_b_c_to_c"));
        let plots = vec![
            (stem.clone(), "confusion\0a_b\0c\0c".to_string(), confusion("one")),
            (stem.clone(), "confusion\0a\0b_c\0c".to_string(), confusion("two")),
            ("uar_vs_snr_c_to_c".to_string(), "snr\0c\0c\0".to_string(), confusion("three")),
        ];
        let names: Vec<String> = unique_stems(plots).into_iter().map(|(s, _)| s).collect();
        assert_eq!(names.len(), 3);
        assert_ne!(names[0], names[1]);
        assert!(names[0].starts_with(&stem) && names[1].starts_with(&stem));
        // A stem nobody else wants stays as it is (the demo's file names do not change).
        assert_eq!(names[2], "uar_vs_snr_c_to_c");
    }
}
