//! The networks and decompositions the model kinds are built from, one per file: a candle MLP
//! (`mlp.rs`), the EDRL encoders (`edrl.rs`), MB-PLS (`mbpls.rs`), and the MB-PLS embedding with its
//! classifier (`mea.rs`).

pub mod edrl;
pub mod mbpls;
pub mod mea;
pub mod mlp;
