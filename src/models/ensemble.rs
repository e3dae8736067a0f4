//! `ensemble`: late fusion of other models' stored test predictions — no training. Its eval entries
//! (`stages::ensemble`) combine the members' class probabilities of the same (train, test, condition,
//! seed) by `rule`: "mean" (average probabilities), "vote" (majority of the members' predicted classes,
//! ties to the class of highest mean probability; probabilities are the vote shares) or "confidence"
//! (each member's probabilities weighted by its own top probability on that utterance).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Fit, Kind, ModelCard, Needs, TrainData, Trained};

pub const RULES: &[&str] = &["mean", "vote", "confidence"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleConfig {
    /// The `[models.*]` entries it combines (two or more, none an ensemble).
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default = "default_rule")]
    pub rule: String,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        EnsembleConfig { members: Vec::new(), rule: default_rule() }
    }
}

fn default_rule() -> String {
    "mean".into()
}

pub struct Ensemble;

impl Kind for Ensemble {
    type Config = EnsembleConfig;
    const NAME: &'static str = "ensemble";
    const NEEDS: Needs = Needs::COMBINES;

    fn check(cfg: &EnsembleConfig) -> Result<(), (&'static str, String)> {
        if !RULES.contains(&cfg.rule.as_str()) {
            return Err(("rule", format!("rule = \"{}\" (expected one of: {})", cfg.rule, RULES.join(", "))));
        }
        if cfg.members.len() < 2 {
            return Err(("members", "members: an ensemble combines two or more [models.*] entries".into()));
        }
        if let Some(m) = cfg.members.iter().enumerate().find(|(i, m)| cfg.members[..*i].contains(m)).map(|(_, m)| m) {
            return Err(("members", format!("members: \"{m}\" is listed twice")));
        }
        Ok(())
    }

    fn fit(_: &EnsembleConfig, _: u64, _: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        anyhow::bail!("an ensemble has no train stage: it combines its members' stored predictions")
    }

    fn load(_: &Path, _: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        anyhow::bail!("an ensemble has no checkpoint: it combines its members' stored predictions")
    }
}

/// The fused class probabilities and classes of one utterance from its members' probabilities.
pub fn combine(rule: &str, members: &[&[f32]]) -> (Vec<f32>, usize) {
    let k = members[0].len();
    let n = members.len() as f32;
    let mean: Vec<f32> = (0..k).map(|c| members.iter().map(|p| p[c]).sum::<f32>() / n).collect();
    match rule {
        "vote" => {
            let mut votes = vec![0usize; k];
            members.iter().for_each(|p| votes[super::argmax(p)] += 1);
            let top = *votes.iter().max().unwrap_or(&0);
            // Among the classes with the most votes, the one of highest mean probability (first of equals).
            let class = (0..k).filter(|&c| votes[c] == top).fold(None, |best: Option<usize>, c| match best {
                Some(b) if mean[b] >= mean[c] => Some(b),
                _ => Some(c),
            });
            (votes.iter().map(|&v| v as f32 / n).collect(), class.unwrap_or(0))
        }
        "confidence" => {
            let weights: Vec<f32> = members.iter().map(|p| p.iter().cloned().fold(0.0, f32::max)).collect();
            let total: f32 = weights.iter().sum();
            let fused: Vec<f32> = (0..k)
                .map(|c| members.iter().zip(&weights).map(|(p, w)| p[c] * w).sum::<f32>() / total.max(f32::MIN_POSITIVE))
                .collect();
            let class = super::argmax(&fused);
            (fused, class)
        }
        _ => {
            let class = super::argmax(&mean);
            (mean, class)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_by_hand() {
        let a = [0.6f32, 0.3, 0.1];
        let b = [0.2f32, 0.5, 0.3];
        let c = [0.1f32, 0.45, 0.45];
        let (p, k) = combine("mean", &[&a, &b, &c]);
        assert!((p[0] - 0.3).abs() < 1e-6 && (p[1] - 1.25 / 3.0).abs() < 1e-6 && k == 1);
        // Votes: a → 0, b → 1, c → 1 (first of equals): class 1 with 2 of 3.
        let (p, k) = combine("vote", &[&a, &b, &c]);
        assert_eq!((p, k), (vec![1.0 / 3.0, 2.0 / 3.0, 0.0], 1));
        // One vote each for 0 and 1: the tie goes to the higher mean probability (0: 0.4 vs 1: 0.4 → first).
        let (_, k) = combine("vote", &[&a, &b]);
        assert_eq!(k, 0);
        // Confidence: a weighs 0.6, b 0.5.
        let (p, k) = combine("confidence", &[&a, &b]);
        assert!((p[0] - (0.36 + 0.1) / 1.1).abs() < 1e-6 && k == 0);
    }
}
