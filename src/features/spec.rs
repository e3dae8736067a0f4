//! What `[features]` asks for: one options struct per kind (`kind = "logmel_stats" | "functionals" |
//! "imported"`), each with its own keys and defaults. The config module checks the keys and values; only a
//! kind's own options reach the feature stages' keys ([`FeatureSpec::key_params`]).

use serde::{Deserialize, Serialize};

/// Log-mel analysis: STFT framing, mel filterbank, and whether to keep the frame sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogMelConfig {
    #[serde(default = "default_n_mels")]
    pub n_mels: usize,
    #[serde(default = "default_n_fft")]
    pub n_fft: usize,
    #[serde(default = "default_win_ms")]
    pub win_ms: f64,
    #[serde(default = "default_hop_ms")]
    pub hop_ms: f64,
    #[serde(default)]
    pub fmin_hz: f64,
    /// Upper mel edge; default: half the pipeline sample rate.
    #[serde(default)]
    pub fmax_hz: Option<f64>,
    /// "slaney" (librosa's default) or "htk".
    #[serde(default = "default_slaney")]
    pub mel_scale: String,
    /// Filter area normalisation: "slaney" (librosa's default) or "none".
    #[serde(default = "default_slaney")]
    pub mel_norm: String,
    /// Also store the frame-level log-mel sequence of each utterance (column `frames`,
    /// List<FixedSizeList<f32>>), for models that read sequences.
    #[serde(default)]
    pub frames: bool,
}

impl Default for LogMelConfig {
    fn default() -> Self {
        LogMelConfig {
            n_mels: default_n_mels(),
            n_fft: default_n_fft(),
            win_ms: default_win_ms(),
            hop_ms: default_hop_ms(),
            fmin_hz: 0.0,
            fmax_hz: None,
            mel_scale: default_slaney(),
            mel_norm: default_slaney(),
            frames: false,
        }
    }
}

/// The `functionals` set: log-mel statistics, MFCCs and deltas, spectral descriptors and F0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionalsConfig {
    #[serde(flatten)]
    pub logmel: LogMelConfig,
    /// MFCCs per frame.
    #[serde(default = "default_n_mfcc")]
    pub n_mfcc: usize,
}

impl Default for FunctionalsConfig {
    fn default() -> Self {
        FunctionalsConfig { logmel: LogMelConfig::default(), n_mfcc: default_n_mfcc() }
    }
}

/// Per-utterance vectors computed elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedConfig {
    /// A Parquet file (columns `id`, optional `condition`, and a vector column) or an NPY matrix,
    /// relative to the pipeline file.
    #[serde(default)]
    pub path: Option<String>,
    /// For an NPY `path`: a text file with one id per row of the matrix (`id` or `id<TAB>condition`).
    #[serde(default)]
    pub ids: Option<String>,
    /// For a Parquet `path`: the vector column.
    #[serde(default = "default_column")]
    pub column: String,
}

impl Default for ImportedConfig {
    fn default() -> Self {
        ImportedConfig { path: None, ids: None, column: default_column() }
    }
}

/// The feature set of a pipeline, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum FeatureSpec {
    /// Utterance-level log-mel statistics (per-band mean and std).
    #[serde(rename = "logmel_stats")]
    LogMelStats(LogMelConfig),
    #[serde(rename = "functionals")]
    Functionals(FunctionalsConfig),
    #[serde(rename = "imported")]
    Imported(ImportedConfig),
}

impl Default for FeatureSpec {
    fn default() -> Self {
        FeatureSpec::LogMelStats(LogMelConfig::default())
    }
}

impl FeatureSpec {
    /// Every kind, the default first.
    pub const KINDS: &'static [&'static str] = &["logmel_stats", "functionals", "imported"];

    /// A kind with every option at its default.
    pub fn default_of(kind: &str) -> Option<FeatureSpec> {
        match kind {
            "logmel_stats" => Some(FeatureSpec::LogMelStats(LogMelConfig::default())),
            "functionals" => Some(FeatureSpec::Functionals(FunctionalsConfig::default())),
            "imported" => Some(FeatureSpec::Imported(ImportedConfig::default())),
            _ => None,
        }
    }

    /// A kind from its options (`kind` not among them); missing options take their defaults.
    pub fn parse(kind: &str, mut options: serde_json::Map<String, serde_json::Value>) -> serde_json::Result<Self> {
        options.insert("kind".into(), kind.into());
        serde_json::from_value(serde_json::Value::Object(options))
    }

    /// The options a kind reads (besides `kind`), sorted.
    pub fn keys(kind: &str) -> Vec<String> {
        match Self::default_of(kind).map(|d| d.key_params()) {
            Some(serde_json::Value::Object(m)) => m.keys().filter(|k| *k != "kind").cloned().collect(),
            _ => Vec::new(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            FeatureSpec::LogMelStats(_) => "logmel_stats",
            FeatureSpec::Functionals(_) => "functionals",
            FeatureSpec::Imported(_) => "imported",
        }
    }

    /// The canonical JSON of this kind's options with `kind`: what the feature stages' keys cover.
    pub fn key_params(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The log-mel analysis of a computed kind (None for imported features).
    pub fn logmel(&self) -> Option<&LogMelConfig> {
        match self {
            FeatureSpec::LogMelStats(c) => Some(c),
            FeatureSpec::Functionals(c) => Some(&c.logmel),
            FeatureSpec::Imported(_) => None,
        }
    }
}

fn default_n_mfcc() -> usize {
    13
}
fn default_slaney() -> String {
    "slaney".into()
}
fn default_column() -> String {
    "embedding".into()
}
fn default_n_mels() -> usize {
    64
}
fn default_n_fft() -> usize {
    512
}
fn default_win_ms() -> f64 {
    25.0
}
fn default_hop_ms() -> f64 {
    10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_only_its_own_keys() {
        assert_eq!(
            FeatureSpec::keys("logmel_stats"),
            ["fmax_hz", "fmin_hz", "frames", "hop_ms", "mel_norm", "mel_scale", "n_fft", "n_mels", "win_ms"]
        );
        assert!(FeatureSpec::keys("functionals").contains(&"n_mfcc".to_string()));
        assert_eq!(FeatureSpec::keys("imported"), ["column", "ids", "path"]);
        let parsed =
            FeatureSpec::parse("functionals", serde_json::from_str(r#"{"win_ms": 25, "n_mfcc": 20}"#).unwrap());
        let FeatureSpec::Functionals(f) = parsed.unwrap() else { panic!("not functionals") };
        assert_eq!((f.n_mfcc, f.logmel.win_ms, f.logmel.n_mels), (20, 25.0, 64));
    }
}
