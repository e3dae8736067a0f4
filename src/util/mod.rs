//! Small helpers every reader shares and that belong to no domain: walking directories (`fs`) and
//! reading CSV (`csv`). A leaf: it imports nothing from the rest of the crate.

pub mod csv;
pub mod fs;
pub mod tensorboard;
