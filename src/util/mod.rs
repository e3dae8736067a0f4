//! Small helpers every reader shares and that belong to no domain: walking directories (`fs`),
//! reading CSV (`csv`) and sums of f64 slices in independent partial sums (`lanes`). A leaf: it
//! imports nothing from the rest of the crate.

pub mod csv;
pub mod fs;
pub mod lanes;
pub mod tensorboard;
