//! `[features]`: one kind (`logmel_stats`, `functionals`, `imported`, `egemaps`, `gemaps`) and that kind's own
//! options.

use super::source::{parse_kind_options, take_string, Source};
use crate::features::imported::ImportedFeatures;
use crate::features::{FeatureSpec, LogMelConfig};

/// Parse and check `[features]`; for `imported`, also resolve its files.
pub(crate) fn resolve_features(
    table: Option<&toml::Table>,
    sample_rate_hz: u32,
    src: &Source,
) -> anyhow::Result<(FeatureSpec, Option<ImportedFeatures>)> {
    let at = |key: &str, msg: String| src.error(src.key_offset("features", key), msg);
    let mut options = table.cloned().unwrap_or_default();
    let kind = take_string(src, &mut options, ("features", "[features]"), "kind")?
        .unwrap_or_else(|| FeatureSpec::KINDS[0].to_string());
    if FeatureSpec::default_of(&kind).is_none() {
        return Err(at(
            "kind",
            format!("[features] kind = \"{kind}\" (expected one of: {})", FeatureSpec::KINDS.join(", ")),
        ));
    }
    let mut keys = FeatureSpec::keys(&kind);
    keys.push("kind".into());
    keys.sort();
    let spec =
        parse_kind_options(src, &options, ("features", "[features]", &kind), &keys, |m| FeatureSpec::parse(&kind, m))?;
    match &spec {
        FeatureSpec::LogMelStats(lm) => check_logmel(lm, sample_rate_hz, src)?,
        FeatureSpec::Functionals(f) => {
            if f.n_mfcc == 0 || f.n_mfcc > f.logmel.n_mels {
                return Err(at(
                    "n_mfcc",
                    format!(
                        "[features] n_mfcc = {} with n_mels = {} (expected 1 ≤ n_mfcc ≤ n_mels)",
                        f.n_mfcc, f.logmel.n_mels
                    ),
                ));
            }
            check_logmel(&f.logmel, sample_rate_hz, src)?;
        }
        FeatureSpec::Egemaps(_) | FeatureSpec::Gemaps(_) => {
            // The parameter set is defined at 16 kHz (frame sizes, filterbanks and F0 range are openSMILE's).
            if sample_rate_hz != 16_000 {
                return Err(at(
                    "kind",
                    format!(
                        "[features] kind = \"{kind}\" is defined at 16 kHz; [pipeline] sample_rate_hz = {sample_rate_hz} \
                         (set it to 16000: sertool resamples every corpus to it)"
                    ),
                ));
            }
        }
        FeatureSpec::Imported(imp) => {
            let Some(path) = &imp.path else {
                return Err(at(
                    "kind",
                    "[features] kind = \"imported\" needs path = \"FILE.parquet\" (or an .npy with ids = \"FILE.txt\")"
                        .to_string(),
                ));
            };
            let file = src.resolve(path);
            let ids = imp.ids.as_deref().map(|i| src.resolve(i));
            let is_npy = file.extension().is_some_and(|e| e == "npy");
            let problem = if !file.is_file() {
                Some(format!("[features] path: {} is not a file", file.display()))
            } else if is_npy && ids.is_none() {
                Some("[features] an .npy path needs ids = \"FILE.txt\" (one utterance id per row)".to_string())
            } else {
                let missing = ids.as_ref().filter(|i| !i.is_file());
                missing.map(|i| format!("[features] ids: {} is not a file", i.display()))
            };
            if let Some(msg) = problem {
                return Err(at("path", msg));
            }
            let imported = ImportedFeatures { file, ids, column: imp.column.clone() };
            return Ok((spec, Some(imported)));
        }
    }
    Ok((spec, None))
}

/// The log-mel analysis must fit the sample rate and the FFT; `cmvn`, `top_db` and `active_db` take only
/// their documented values.
fn check_logmel(f: &LogMelConfig, sample_rate_hz: u32, src: &Source) -> anyhow::Result<()> {
    let at = |key: &str, msg: String| Err(src.error(src.key_offset("features", key), msg));
    if !["slaney", "htk"].contains(&f.mel_scale.as_str()) || !["slaney", "none"].contains(&f.mel_norm.as_str()) {
        return at(
            "mel_scale",
            format!(
                "[features] mel_scale = \"{}\", mel_norm = \"{}\" (expected slaney or htk; slaney or none)",
                f.mel_scale, f.mel_norm
            ),
        );
    }
    if !["none", "mean", "meanvar"].contains(&f.cmvn.as_str()) {
        return at("cmvn", format!("[features] cmvn = \"{}\" (expected none, mean or meanvar)", f.cmvn));
    }
    for (key, value) in [("top_db", f.top_db), ("active_db", f.active_db)] {
        if let Some(db) = value.filter(|db| !(db.is_finite() && *db > 0.0)) {
            return at(key, format!("[features] {key} = {db} (expected a finite number of dB > 0)"));
        }
    }
    let nyquist = sample_rate_hz as f64 / 2.0;
    let fmax = f.fmax_hz.unwrap_or(nyquist);
    if !(f.fmin_hz >= 0.0 && f.fmin_hz < fmax && fmax <= nyquist) {
        return at(
            "fmax_hz",
            format!(
                "[features] need 0 ≤ fmin_hz < fmax_hz ≤ {nyquist} (half the sample rate); got {} and {fmax}",
                f.fmin_hz
            ),
        );
    }
    let win = (f.win_ms * sample_rate_hz as f64 / 1000.0).round() as usize;
    if win == 0 || win > f.n_fft || f.hop_ms <= 0.0 || f.n_mels == 0 {
        return at(
            "win_ms",
            format!(
                "[features] win_ms = {} gives {win} samples; expected 0 < window ≤ n_fft = {}, hop_ms > 0, n_mels > 0",
                f.win_ms, f.n_fft
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(options: &str) -> anyhow::Result<FeatureSpec> {
        let text = format!("[features]\nkind = \"logmel_stats\"\n{options}\n");
        let doc: toml::Table = toml::from_str(&text).unwrap();
        let src = Source { file: std::path::Path::new("p.toml"), text: &text };
        resolve_features(doc.get("features").and_then(|t| t.as_table()), 16_000, &src).map(|(spec, _)| spec)
    }

    #[test]
    fn robust_logmel_options_are_accepted_and_checked() {
        assert_eq!(resolve("").unwrap(), FeatureSpec::default());
        let spec = resolve("cmvn = \"meanvar\"\ntop_db = 80\nactive_db = 40.5").unwrap();
        let lm = spec.logmel().unwrap();
        assert_eq!((lm.cmvn.as_str(), lm.top_db, lm.active_db), ("meanvar", Some(80.0), Some(40.5)));
        for (body, expected) in [
            ("cmvn = \"zscore\"", "p.toml:3:1: [features] cmvn = \"zscore\" (expected none, mean or meanvar)"),
            ("top_db = 0", "p.toml:3:1: [features] top_db = 0 (expected a finite number of dB > 0)"),
            ("active_db = -10", "p.toml:3:1: [features] active_db = -10 (expected a finite number of dB > 0)"),
            ("cmvm = \"mean\"", "p.toml:3:1: unknown key \"cmvm\" in [features]"),
        ] {
            let err = resolve(body).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{body}: {err}");
        }
    }
}
