//! Emo-DNA (Ye et al., ACM MM 2023; method.md) in the standard forms we chose, since the paper's code
//! and formulas are not available. A shared encoder (Linear → ReLU) feeds two projections, an emotion
//! code z_e and a corpus code z_c; an emotion classifier reads z_e, a corpus classifier z_c.
//!
//! Every batch: class-weighted cross-entropy on the source rows; cross-entropy of the corpus classifier
//! (source corpora and the target); the orthogonality penalty ‖Ẑ_eᵀẐ_c / B‖²_F; a supervised-
//! contrastive loss on normalised z_e (positives: the same emotion; the corpus codes as extra
//! negatives). Target rows update a FreeMatch-style adaptive threshold. After the source-only warm-up,
//! target rows whose pseudo-label passes the threshold join the contrastive loss and get cross-entropy
//! on their pseudo-label; EMA class centroids of normalised z_e on source and on confident target rows
//! are pulled together (the moving semantic transfer of Xie et al. 2018); and z_e is aligned at the
//! corpus level by MMD or by a discriminator behind gradient reversal. The epoch is chosen on the
//! source dev split only.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use super::align::{
    dann_coefficient, mmd, normalize_rows, orthogonality, reverse_gradient, supervised_contrastive, AdaptiveThreshold,
};
use super::mlp::Mlp;
use crate::models::common::{
    self, index_tensor, probabilities, rows_tensor, to_tensor, weighted_cross_entropy, BatchLoss, Schedule,
    TargetBatches, TrainLog,
};
use crate::models::{EpochLabels, PseudoLabelLog, TrainData};
use crate::rng::Rng;

/// The weights of the loss terms (the source cross-entropy has weight 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    pub contrastive: f64,
    pub orthogonal: f64,
    pub corpus: f64,
    pub class_align: f64,
    pub pseudo: f64,
    pub domain: f64,
}

/// Corpus-level alignment of z_e.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CorpusAlignment {
    Mmd,
    /// A discriminator with one hidden layer of this width, behind gradient reversal.
    Adversarial(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub encoder_hidden: usize,
    pub code_dim: usize,
    pub temperature: f64,
    pub warmup_epochs: usize,
    pub threshold_momentum: f64,
    pub centroid_momentum: f64,
    pub alignment: CorpusAlignment,
    pub loss: LossWeights,
    pub schedule: Schedule,
}

/// The parts kept after training (the discriminator is not).
pub struct EmoDna {
    encoder: Mlp,
    emotion_code: Mlp,
    corpus_code: Mlp,
    classifier: Mlp,
    corpus_classifier: Mlp,
}

/// What one forward pass gives: z_e, z_c and the emotion logits.
struct Codes {
    ze: Tensor,
    zc: Tensor,
    logits: Tensor,
}

const PARTS: [&str; 5] = ["encoder.", "emotion_code.", "corpus_code.", "classifier.", "corpus_classifier."];

impl EmoDna {
    fn parts(&self) -> [&Mlp; 5] {
        [&self.encoder, &self.emotion_code, &self.corpus_code, &self.classifier, &self.corpus_classifier]
    }

    fn codes(&self, x: &Tensor) -> candle_core::Result<Codes> {
        let h = self.encoder.forward(x)?.relu()?;
        let ze = self.emotion_code.forward(&h)?;
        let zc = self.corpus_code.forward(&h)?;
        let logits = self.classifier.forward(&ze)?;
        Ok(Codes { ze, zc, logits })
    }

    pub fn predict_proba(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        if x.is_empty() {
            return Ok(Vec::new());
        }
        Ok(probabilities(&self.codes(&to_tensor(x)?)?.logits)?)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut map = HashMap::new();
        for (part, prefix) in self.parts().into_iter().zip(PARTS) {
            part.insert_tensors(&mut map, prefix);
        }
        candle_core::safetensors::save(&map, path).with_context(|| format!("writing {}", path.display()))
    }

    pub fn load(path: &Path) -> anyhow::Result<EmoDna> {
        let map = candle_core::safetensors::load(path, &Device::Cpu)
            .with_context(|| format!("reading {}", path.display()))?;
        let part = |prefix: &str| Mlp::from_tensors(&map, prefix).with_context(|| path.display().to_string());
        Ok(EmoDna {
            encoder: part(PARTS[0])?,
            emotion_code: part(PARTS[1])?,
            corpus_code: part(PARTS[2])?,
            classifier: part(PARTS[3])?,
            corpus_classifier: part(PARTS[4])?,
        })
    }

    fn snapshot(&self) -> anyhow::Result<Vec<Vec<(Tensor, Tensor)>>> {
        self.parts().iter().map(|p| p.snapshot()).collect()
    }

    fn restore(&self, snap: &[Vec<(Tensor, Tensor)>]) -> anyhow::Result<()> {
        self.parts().iter().zip(snap).try_for_each(|(p, s)| p.restore(s))
    }
}

/// EMA class centroids of normalised z_e on the source rows and on the confident target rows. A batch
/// moves a centroid to m · old + (1 − m) · batch mean, with the gradient through the batch mean only.
struct Centroids {
    momentum: f64,
    source: Vec<Option<Tensor>>,
    target: Vec<Option<Tensor>>,
}

impl Centroids {
    fn new(classes: usize, momentum: f64) -> Centroids {
        Centroids { momentum, source: vec![None; classes], target: vec![None; classes] }
    }

    fn moved(&self, old: &Option<Tensor>, rows: &Tensor, labels: &[usize], c: usize) -> anyhow::Result<Option<Tensor>> {
        let idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        if idx.is_empty() {
            return Ok(old.clone());
        }
        let mean = rows.index_select(&index_tensor(&idx)?, 0)?.mean(0)?;
        Ok(Some(match old {
            Some(o) => ((o * self.momentum)? + (mean * (1.0 - self.momentum))?)?,
            None => mean,
        }))
    }

    /// Fold a batch in; the loss is the mean squared distance between the two centroids of every class
    /// that has both.
    fn step(&mut self, es: &Tensor, ys: &[usize], et: &Tensor, yt: &[usize]) -> anyhow::Result<Option<Tensor>> {
        let mut terms = Vec::new();
        for c in 0..self.source.len() {
            let s = self.moved(&self.source[c], es, ys, c)?;
            let t = self.moved(&self.target[c], et, yt, c)?;
            if let (Some(s), Some(t)) = (&s, &t) {
                terms.push((s - t)?.sqr()?.sum_all()?);
            }
            self.source[c] = s.map(|v| v.detach());
            self.target[c] = t.map(|v| v.detach());
        }
        if terms.is_empty() {
            return Ok(None);
        }
        let n = terms.len() as f64;
        Ok(Some((Tensor::stack(&terms, 0)?.sum_all()? / n)?))
    }
}

/// Train on the labeled source rows and the unlabeled target rows (none: source-only, as for the
/// in-corpus cell). Returns the model, its log and the target pseudo-labels after every epoch.
pub fn train(s: &Settings, seed: u64, d: &TrainData) -> anyhow::Result<(EmoDna, TrainLog, PseudoLabelLog)> {
    anyhow::ensure!(!d.x.is_empty(), "no training utterances");
    let (cfg, n_classes, n_corpora) = (&s.schedule, d.classes.len(), d.corpora.len().max(1));
    let (h, z) = (s.encoder_hidden, s.code_dim);
    let mut rng = Rng::derived(seed, &["emo-dna-init"]);
    let model = EmoDna {
        encoder: Mlp::init_from(&[d.x[0].len(), h], &mut rng)?,
        emotion_code: Mlp::init_from(&[h, z], &mut rng)?,
        corpus_code: Mlp::init_from(&[h, z], &mut rng)?,
        classifier: Mlp::init_from(&[z, n_classes], &mut rng)?,
        corpus_classifier: Mlp::init_from(&[z, n_corpora], &mut rng)?,
    };
    let disc = match s.alignment {
        CorpusAlignment::Adversarial(width) => Some(Mlp::init_from(&[z, width, 2], &mut rng)?),
        CorpusAlignment::Mmd => None,
    };
    let mut vars: Vec<_> = model.parts().iter().flat_map(|p| p.vars()).collect();
    vars.extend(disc.iter().flat_map(|m| m.vars()));
    let mut opt =
        AdamW::new(vars, ParamsAdamW { lr: cfg.lr, weight_decay: cfg.weight_decay, ..ParamsAdamW::default() })?;
    let class_w = common::class_weights(d.y, n_classes);
    let has_target = !d.target_x.is_empty();
    let target_corpus = n_corpora - 1;
    // Batches move the threshold; the per-epoch log reads it: both closures share it through a cell.
    let threshold = RefCell::new(AdaptiveThreshold::new(n_classes, s.threshold_momentum));
    let mut centroids = Centroids::new(n_classes, s.centroid_momentum);
    let mut target = TargetBatches::new(d.target_x.len(), seed, "emo-dna-target");
    let per_epoch = d.x.len().div_ceil(cfg.batch_size);
    let adapt_steps = (cfg.epochs.saturating_sub(s.warmup_epochs) * per_epoch).max(1);
    let mut step = 0usize;
    let w = s.loss;
    let batch_loss = |chunk: &[usize]| -> anyhow::Result<BatchLoss> {
        let (b, epoch) = (chunk.len(), step / per_epoch);
        let adapt_progress = step.saturating_sub(s.warmup_epochs * per_epoch) as f64 / adapt_steps as f64;
        step += 1;
        let ys: Vec<usize> = chunk.iter().map(|&i| d.y[i]).collect();
        let t_idx = target.take(b);
        let nt = t_idx.len();
        let xs = rows_tensor(d.x, chunk)?;
        let all = if nt > 0 { Tensor::cat(&[&xs, &rows_tensor(d.target_x, &t_idx)?], 0)? } else { xs };
        let c = model.codes(&all)?;
        // During the warm-up only source rows reach the loss; target rows still move the threshold.
        let adapting = nt > 0 && epoch >= s.warmup_epochs;
        let rows_in = if adapting { b + nt } else { b };
        let (ze, zc) = (c.ze.narrow(0, 0, rows_in)?, c.zc.narrow(0, 0, rows_in)?);
        let weights = Tensor::from_vec(ys.iter().map(|&y| class_w[y]).collect::<Vec<_>>(), b, &Device::Cpu)?;
        let mut loss = weighted_cross_entropy(&c.logits.narrow(0, 0, b)?, &index_tensor(&ys)?, &weights)?;
        let orthogonal = orthogonality(&ze, &zc)?;
        let mut terms = vec![("ce", loss.clone()), ("orthogonal", orthogonal.clone())];
        loss = (loss + (orthogonal * w.orthogonal)?)?;
        let corpora_in = if adapting { n_corpora } else { n_corpora - usize::from(has_target) };
        if corpora_in > 1 {
            let mut corpus: Vec<usize> = chunk.iter().map(|&i| d.corpus[i]).collect();
            corpus.extend(std::iter::repeat_n(target_corpus, rows_in - b));
            let ce = candle_nn::loss::cross_entropy(&model.corpus_classifier.forward(&zc)?, &index_tensor(&corpus)?)?;
            terms.push(("corpus", ce.clone()));
            loss = (loss + (ce * w.corpus)?)?;
        }
        // Pseudo-labels of this batch's target rows; they count only after the warm-up.
        let mut confident: Vec<(usize, usize)> = Vec::new();
        if nt > 0 {
            let probs = probabilities(&c.logits.narrow(0, b, nt)?)?;
            let mut thr = threshold.borrow_mut();
            thr.update(&probs);
            if adapting {
                confident = thr.select(&probs).into_iter().enumerate().filter_map(|(j, p)| Some((b + j, p?))).collect();
            }
        }
        let mut rows: Vec<usize> = (0..b).collect();
        rows.extend(confident.iter().map(|&(r, _)| r));
        let mut labels = ys.clone();
        labels.extend(confident.iter().map(|&(_, p)| p));
        let ze_labeled = c.ze.index_select(&index_tensor(&rows)?, 0)?;
        let con = supervised_contrastive(&ze_labeled, &labels, Some(&zc), s.temperature)?;
        terms.push(("contrastive", con.clone()));
        loss = (loss + (con * w.contrastive)?)?;
        if !adapting {
            return Ok(BatchLoss { total: loss, terms });
        }
        if !confident.is_empty() {
            let idx = index_tensor(&confident.iter().map(|&(r, _)| r).collect::<Vec<_>>())?;
            let pseudo: Vec<usize> = confident.iter().map(|&(_, p)| p).collect();
            let ce = candle_nn::loss::cross_entropy(&c.logits.index_select(&idx, 0)?, &index_tensor(&pseudo)?)?;
            terms.push(("pseudo", ce.clone()));
            loss = (loss + (ce * w.pseudo)?)?;
            let en = normalize_rows(&c.ze)?;
            if let Some(align) = centroids.step(&en.narrow(0, 0, b)?, &ys, &en.index_select(&idx, 0)?, &pseudo)? {
                terms.push(("class_align", align.clone()));
                loss = (loss + (align * w.class_align)?)?;
            }
        }
        let (ze_s, ze_t) = (c.ze.narrow(0, 0, b)?, c.ze.narrow(0, b, nt)?);
        let domain = match &disc {
            None => mmd(&ze_s, &ze_t)?,
            Some(disc) => {
                let side: Vec<usize> = (0..b + nt).map(|r| usize::from(r >= b)).collect();
                let logits = disc.forward(&reverse_gradient(&c.ze, dann_coefficient(adapt_progress))?)?;
                candle_nn::loss::cross_entropy(&logits, &index_tensor(&side)?)?
            }
        };
        terms.push(("domain", domain.clone()));
        Ok(BatchLoss { total: (loss + (domain * w.domain)?)?, terms })
    };
    // Once per epoch: source-dev UAR for selection, and every target row's pseudo-label for the log.
    let mut log = PseudoLabelLog::default();
    let dev_uar = || {
        if has_target {
            let thr = threshold.borrow();
            let labels = thr.select(&model.predict_proba(d.target_x)?);
            log.epochs.push(EpochLabels { tau: thr.tau, labels });
        }
        common::dev_uar(d.dev_x, d.dev_y, n_classes, |x| model.predict_proba(x))
    };
    let (best, train_log) =
        common::run_epochs(cfg, seed, "emo-dna-epoch", d.x.len(), &mut opt, batch_loss, dev_uar, || model.snapshot())?;
    model.restore(&best)?;
    Ok((model, train_log, log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::common::argmax;

    type Rows = (Vec<Vec<f32>>, Vec<usize>);

    /// Three separable classes; the target is the same classes shifted and scaled.
    fn domains() -> (Rows, Rows) {
        let mut rng = Rng::new(3);
        let (mut x, mut y, mut t, mut ty) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..240 {
            let c = i % 3;
            let point = |rng: &mut Rng| vec![c as f32 * 2.0 + rng.normal() as f32 * 0.3, rng.normal() as f32 * 0.3];
            x.push(point(&mut rng));
            y.push(c);
            let p = point(&mut rng);
            t.push(vec![p[0] * 0.8 + 0.5, p[1] + 0.5]);
            ty.push(c);
        }
        ((x, y), (t, ty))
    }

    fn settings() -> Settings {
        Settings {
            encoder_hidden: 16,
            code_dim: 8,
            temperature: 0.1,
            warmup_epochs: 3,
            threshold_momentum: 0.9,
            centroid_momentum: 0.7,
            alignment: CorpusAlignment::Mmd,
            loss: LossWeights {
                contrastive: 0.1,
                orthogonal: 0.1,
                corpus: 0.1,
                class_align: 1.0,
                pseudo: 1.0,
                domain: 1.0,
            },
            schedule: Schedule { epochs: 12, batch_size: 32, lr: 1e-2, ..Schedule::default() },
        }
    }

    #[test]
    fn adapts_deterministically_logs_pseudo_labels_and_round_trips() {
        let ((x, y), (t, ty)) = domains();
        let classes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let corpora: Vec<String> = ["s", "t"].map(String::from).to_vec();
        let corpus = vec![0; x.len()];
        let data = TrainData {
            x: &x,
            y: &y,
            dev_x: &x,
            dev_y: &y,
            classes: &classes,
            feature_blocks: &[],
            corpus: &corpus,
            corpora: &corpora,
            target_x: &t,
            sequences: None,
        };
        for alignment in [CorpusAlignment::Mmd, CorpusAlignment::Adversarial(8)] {
            let s = Settings { alignment, ..settings() };
            let (m1, log, pseudo) = train(&s, 1, &data).unwrap();
            let (m2, _, pseudo2) = train(&s, 1, &data).unwrap();
            let p1 = m1.predict_proba(&t).unwrap();
            assert_eq!(p1, m2.predict_proba(&t).unwrap());
            assert_eq!(pseudo.epochs, pseudo2.epochs);
            assert_eq!(pseudo.epochs.len(), log.epochs_run);
            let last = &pseudo.epochs.last().unwrap().labels;
            assert_eq!(last.len(), t.len());
            // Pseudo-labels that passed are mostly right on these well-separated domains.
            let passed: Vec<(usize, usize)> = last.iter().zip(&ty).filter_map(|(p, &y)| Some(((*p)?, y))).collect();
            assert!(passed.len() > t.len() / 2, "{} of {} passed", passed.len(), t.len());
            assert!(passed.iter().filter(|(p, y)| p == y).count() * 4 > passed.len() * 3);
            let pred: Vec<usize> = p1.iter().map(|p| argmax(p)).collect();
            assert!(crate::models::metrics::compute(&ty, &pred, 3).uar > 0.8);
            let dir = tempfile::tempdir().unwrap();
            m1.save(&dir.path().join("m.safetensors")).unwrap();
            let back = EmoDna::load(&dir.path().join("m.safetensors")).unwrap();
            assert_eq!(back.predict_proba(&t).unwrap(), p1);
        }
    }
}
