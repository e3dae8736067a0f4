//! Two kinds of failure, two exit codes: the user's input is wrong (2) or the work failed (1).

use std::fmt;

/// An error in what the user gave us (config, paths, arguments). `cli` maps it to exit code 2.
#[derive(Debug)]
pub struct UserError(pub String);

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserError {}

/// Build an `anyhow::Error` that `cli` reports with exit code 2.
pub fn user_error(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UserError(msg.into()))
}

/// True when any error in the chain is a [`UserError`].
pub fn is_user_error(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<UserError>().is_some())
}

/// One per-utterance problem, collected into a stage's report instead of aborting the run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Fault {
    pub corpus: String,
    pub utterance: String,
    pub file: String,
    pub what: String,
    pub detail: String,
}

impl Fault {
    /// One line for a terminal: where (corpus and file, or utterance), what, and the detail.
    pub fn line(&self) -> String {
        let at = if self.file.is_empty() { &self.utterance } else { &self.file };
        format!("{}: {at}: {}: {}", self.corpus, self.what, self.detail)
    }
}
