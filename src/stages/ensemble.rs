//! `eval/<ensemble>/<train>/seedN/<test>/<condition>` of a model of kind `ensemble`: its members' eval
//! entries of the same (train, test, condition, seed), fused utterance by utterance
//! (`models::ensemble::combine`) on the utterances every member scored. It writes what an eval writes
//! (predictions.parquet, metrics.json), so the report reads both alike; nothing is retrained.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::eval::{read_predictions, write_predictions};
use super::Work;
use crate::engine::{StageCtx, StageSpec};
use crate::error::Fault;
use crate::models::ensemble::combine;
use crate::records::{Condition, Predictions};

pub const KIND: &str = "ensemble";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
pub struct Job {
    classes: Vec<String>,
    condition: String,
    rule: String,
    /// One per input "members", in that order.
    members: Vec<String>,
}

/// `members`: (model name, its eval stage) in the ensemble's order.
pub fn spec(
    id: String,
    classes: &[String],
    condition: &Condition,
    rule: &str,
    members: &[(String, usize)],
) -> StageSpec {
    StageSpec {
        id,
        kind: KIND,
        version: VERSION,
        params: json!({ "condition": condition, "rule": rule, "members": members.iter().map(|(m, _)| m).collect::<Vec<_>>() }),
        inputs: BTreeMap::new(),
        deps: members.iter().map(|(_, i)| ("members", *i)).collect(),
        job: Box::new(Job {
            classes: classes.to_vec(),
            condition: condition.name.clone(),
            rule: rule.to_string(),
            members: members.iter().map(|(m, _)| m.clone()).collect(),
        }),
    }
}

/// The members' predictions fused on the utterances all of them scored, in the first member's order.
pub fn fuse(rule: &str, members: &[Predictions]) -> Predictions {
    let at: Vec<HashMap<&str, usize>> =
        members.iter().map(|p| p.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect()).collect();
    let mut out = Predictions { ids: Vec::new(), truth: Vec::new(), pred: Vec::new(), probs: Vec::new() };
    for (i, id) in members[0].ids.iter().enumerate() {
        let Some(rows) = at.iter().map(|a| a.get(id.as_str()).copied()).collect::<Option<Vec<usize>>>() else {
            continue;
        };
        let probs: Vec<&[f32]> = members.iter().zip(&rows).map(|(p, &r)| p.probs[r].as_slice()).collect();
        let (p, class) = combine(rule, &probs);
        out.ids.push(id.clone());
        out.truth.push(members[0].truth[i]);
        out.pred.push(class);
        out.probs.push(p);
    }
    out
}

impl Work for Job {
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>> {
        let dirs = ctx.inputs("members");
        anyhow::ensure!(
            dirs.len() == self.members.len(),
            "ensemble: {} member input(s) for {}",
            dirs.len(),
            self.members.len()
        );
        let members = dirs.iter().map(|d| read_predictions(d, &self.classes)).collect::<anyhow::Result<Vec<_>>>()?;
        let fused = fuse(&self.rule, &members);
        if fused.ids.is_empty() {
            return Err(crate::error::user_error(format!(
                "ensemble of {}: no test utterance that every member scored",
                self.members.join(", ")
            )));
        }
        write_predictions(&ctx.out, &self.classes, &self.condition, &fused)?;
        Ok(Vec::new())
    }
}
