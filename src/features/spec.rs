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
    /// Per-utterance normalisation of the log-mel (dB) frames, after the `top_db` floor: "none" (the
    /// default), "mean" (subtract each band's mean over all the utterance's frames from every frame) or
    /// "meanvar" (also divide by that band's population std, floored at 1e-5). It applies to the stored
    /// frames (`frames = true`), to the statistics, and in `functionals` to the frames the MFCCs come from.
    #[serde(default = "default_cmvn", skip_serializing_if = "is_none_str")]
    pub cmvn: String,
    /// A dB floor relative to the utterance's maximum, as librosa's `power_to_db(S, ref=1.0, amin=1e-10,
    /// top_db=...)`: every log-mel value below (the largest value over all frames and bands − top_db) is
    /// raised to it. Default: no floor (only the absolute 1e-10 power floor, −100 dB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_db: Option<f64>,
    /// Statistics over active frames only: the per-band mean and std (and in `functionals` the MFCC and
    /// delta-MFCC statistics) use only the frames whose energy (the sum of the frame's power spectrum) is
    /// within `active_db` dB of the utterance's loudest frame and above zero, the rule of `[mix] snr_mode =
    /// "active"`; when no frame qualifies (digital silence), all frames. The stored frame sequence
    /// (`frames = true`) stays complete. Default: all frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_db: Option<f64>,
}

impl LogMelConfig {
    /// The options left out of the serialisation, and so out of the feature keys, while at their defaults
    /// (keys from before they existed hold). [`FeatureSpec::keys`] adds them to a log-mel kind's keys.
    pub const OPTIONAL_KEYS: &'static [&'static str] = &["active_db", "cmvn", "top_db"];
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
            cmvn: default_cmvn(),
            top_db: None,
            active_db: None,
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
    /// The 88 eGeMAPS v02 functionals, as openSMILE computes them (`features::egemaps`).
    #[serde(rename = "egemaps")]
    Egemaps(GemapsConfig),
    /// The 62 GeMAPS v01b functionals: eGeMAPS without its extras.
    #[serde(rename = "gemaps")]
    Gemaps(GemapsConfig),
}

/// eGeMAPS and GeMAPS: the parameter sets are fixed by their definition; the one option is how
/// jitter and shimmer are measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GemapsConfig {
    /// `opensmile` (default; left out of the key, so default keys predate the option) or `cycles`.
    #[serde(default, skip_serializing_if = "JitterMethod::is_opensmile")]
    pub jitter: JitterMethod,
}

impl GemapsConfig {
    /// Options that the default leaves out of its key (see [`FeatureSpec::keys`]).
    pub const OPTIONAL_KEYS: &'static [&'static str] = &["jitter"];
}

/// How eGeMAPS measures jitter and shimmer (docs/egemaps.md §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JitterMethod {
    /// openSMILE's period search (cPitchJitter), for values comparable with the literature.
    #[default]
    Opensmile,
    /// Glottal cycles in the LPC residual: within 10 % of the truth on vowels with known jitter and
    /// shimmer, where openSMILE reads 0.76 of a true jitter.
    Cycles,
}

impl JitterMethod {
    fn is_opensmile(&self) -> bool {
        *self == JitterMethod::Opensmile
    }
}

impl Default for FeatureSpec {
    fn default() -> Self {
        FeatureSpec::LogMelStats(LogMelConfig::default())
    }
}

impl FeatureSpec {
    /// Every kind, the default first.
    pub const KINDS: &'static [&'static str] = &["logmel_stats", "functionals", "imported", "egemaps", "gemaps"];

    /// A kind with every option at its default.
    pub fn default_of(kind: &str) -> Option<FeatureSpec> {
        match kind {
            "logmel_stats" => Some(FeatureSpec::LogMelStats(LogMelConfig::default())),
            "functionals" => Some(FeatureSpec::Functionals(FunctionalsConfig::default())),
            "imported" => Some(FeatureSpec::Imported(ImportedConfig::default())),
            "egemaps" => Some(FeatureSpec::Egemaps(GemapsConfig::default())),
            "gemaps" => Some(FeatureSpec::Gemaps(GemapsConfig::default())),
            _ => None,
        }
    }

    /// A kind from its options (`kind` not among them); missing options take their defaults.
    pub fn parse(kind: &str, mut options: serde_json::Map<String, serde_json::Value>) -> serde_json::Result<Self> {
        options.insert("kind".into(), kind.into());
        serde_json::from_value(serde_json::Value::Object(options))
    }

    /// The options a kind reads (besides `kind`), sorted: those its default serialises, and for a log-mel
    /// kind the [`LogMelConfig::OPTIONAL_KEYS`] its default leaves out (for eGeMAPS, the
    /// [`GemapsConfig::OPTIONAL_KEYS`]).
    pub fn keys(kind: &str) -> Vec<String> {
        let Some(spec) = Self::default_of(kind) else { return Vec::new() };
        let mut keys: Vec<String> = match spec.key_params() {
            serde_json::Value::Object(m) => m.keys().filter(|k| *k != "kind").cloned().collect(),
            _ => Vec::new(),
        };
        if spec.logmel().is_some() {
            keys.extend(LogMelConfig::OPTIONAL_KEYS.iter().map(|k| k.to_string()));
        }
        if matches!(spec, FeatureSpec::Egemaps(_) | FeatureSpec::Gemaps(_)) {
            keys.extend(GemapsConfig::OPTIONAL_KEYS.iter().map(|k| k.to_string()));
        }
        keys.sort();
        keys
    }

    pub fn kind(&self) -> &'static str {
        match self {
            FeatureSpec::LogMelStats(_) => "logmel_stats",
            FeatureSpec::Functionals(_) => "functionals",
            FeatureSpec::Imported(_) => "imported",
            FeatureSpec::Egemaps(_) => "egemaps",
            FeatureSpec::Gemaps(_) => "gemaps",
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
            FeatureSpec::Imported(_) | FeatureSpec::Egemaps(_) | FeatureSpec::Gemaps(_) => None,
        }
    }
}

fn default_n_mfcc() -> usize {
    13
}
fn default_slaney() -> String {
    "slaney".into()
}
fn default_cmvn() -> String {
    "none".into()
}
fn is_none_str(s: &str) -> bool {
    s == "none"
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
            [
                "active_db",
                "cmvn",
                "fmax_hz",
                "fmin_hz",
                "frames",
                "hop_ms",
                "mel_norm",
                "mel_scale",
                "n_fft",
                "n_mels",
                "top_db",
                "win_ms"
            ]
        );
        let functionals = FeatureSpec::keys("functionals");
        for k in ["n_mfcc", "active_db", "cmvn", "top_db"] {
            assert!(functionals.contains(&k.to_string()), "{k}");
        }
        assert_eq!(FeatureSpec::keys("imported"), ["column", "ids", "path"]);
        let parsed =
            FeatureSpec::parse("functionals", serde_json::from_str(r#"{"win_ms": 25, "n_mfcc": 20}"#).unwrap());
        let FeatureSpec::Functionals(f) = parsed.unwrap() else { panic!("not functionals") };
        assert_eq!((f.n_mfcc, f.logmel.win_ms, f.logmel.n_mels), (20, 25.0, 64));
        let parsed = FeatureSpec::parse(
            "functionals",
            serde_json::from_str(r#"{"cmvn": "meanvar", "top_db": 80, "active_db": 40.5}"#).unwrap(),
        );
        let FeatureSpec::Functionals(f) = parsed.unwrap() else { panic!("not functionals") };
        assert_eq!((f.logmel.cmvn.as_str(), f.logmel.top_db, f.logmel.active_db), ("meanvar", Some(80.0), Some(40.5)));
    }

    /// `jitter` stays out of the eGeMAPS key at its default (keys from before it hold), enters it when
    /// set, is an option `keys` lists, and rejects an unknown method.
    #[test]
    fn egemaps_jitter_option_keys_only_when_set() {
        assert_eq!(FeatureSpec::default_of("egemaps").unwrap().key_params(), serde_json::json!({ "kind": "egemaps" }));
        let m = |v: &str| serde_json::from_str(&format!(r#"{{"jitter": "{v}"}}"#)).unwrap();
        let parsed = FeatureSpec::parse("gemaps", m("cycles")).unwrap();
        assert_eq!(parsed, FeatureSpec::Gemaps(GemapsConfig { jitter: JitterMethod::Cycles }));
        assert_eq!(parsed.key_params(), serde_json::json!({ "kind": "gemaps", "jitter": "cycles" }));
        assert!(FeatureSpec::parse("egemaps", m("praat")).is_err());
        assert_eq!(FeatureSpec::keys("egemaps"), ["jitter"]);
    }

    /// The robust options stay out of the keys at their defaults (keys from before them hold), enter them
    /// when set, and are exactly the optional keys `keys` adds.
    #[test]
    fn robust_options_key_only_when_set() {
        let old =
            ["fmax_hz", "fmin_hz", "frames", "hop_ms", "kind", "mel_norm", "mel_scale", "n_fft", "n_mels", "win_ms"];
        let key_names = |spec: &FeatureSpec| -> Vec<String> {
            let mut k: Vec<String> = spec.key_params().as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(key_names(&FeatureSpec::LogMelStats(LogMelConfig::default())), old);
        let set =
            LogMelConfig { cmvn: "mean".into(), top_db: Some(80.0), active_db: Some(40.0), ..LogMelConfig::default() };
        let mut added: Vec<String> = key_names(&FeatureSpec::LogMelStats(set.clone()))
            .into_iter()
            .filter(|k| !old.contains(&k.as_str()))
            .collect();
        added.sort();
        assert_eq!(added, LogMelConfig::OPTIONAL_KEYS);
        let functionals = FeatureSpec::Functionals(FunctionalsConfig { logmel: set, ..FunctionalsConfig::default() });
        for k in LogMelConfig::OPTIONAL_KEYS {
            assert!(key_names(&functionals).contains(&k.to_string()), "{k}");
        }
        assert!(!key_names(&FeatureSpec::Functionals(FunctionalsConfig::default())).contains(&"cmvn".to_string()));
    }
}
