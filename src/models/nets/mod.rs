//! The networks and decompositions the model kinds are built from, one per file: a candle MLP
//! (`mlp.rs`), the EDRL encoders (`edrl.rs`), MB-PLS (`mbpls.rs`), and the MB-PLS embedding with its
//! classifier (`mea.rs`), and the domain-adaptation pieces (`align.rs`) with the networks built on them:
//! the `dann` / `mmd` baselines (`da_mlp.rs`) and Emo-DNA (`emo_dna.rs`); the sequence network of
//! the SE+SER kinds (`seq.rs`).

pub mod align;
pub mod da_mlp;
pub mod edrl;
pub mod emo_dna;
pub mod mbpls;
pub mod mea;
pub mod mlp;
pub mod seq;
