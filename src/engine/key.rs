//! Stage keys: SHA-256 over a canonical JSON encoding of (kind, code version, parameters, inputs).
//!
//! serde_json's default map is a BTreeMap, so object keys serialise sorted and the encoding of a
//! `serde_json::Value` is canonical: the same parameters always give the same bytes, whatever order the
//! TOML listed them in.
//!
//! The SHA-256 helpers live here too: of bytes, and of a file's content, streamed (what an external
//! input contributes to a key).

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// SHA-256 of a file's content, streamed.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// The key of a stage instance. `inputs` maps an input's name to the key of the stage (or the content
/// hash of the external file) it reads.
pub fn stage_key(kind: &str, version: u32, params: &serde_json::Value, inputs: &BTreeMap<String, String>) -> String {
    let doc = serde_json::json!({
        "kind": kind,
        "version": version,
        "params": params,
        "inputs": inputs,
    });
    sha256_hex(serde_json::to_string(&doc).expect("JSON values always serialise").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ignores_map_order_but_not_values() {
        let a: serde_json::Value = serde_json::from_str(r#"{"x":1,"y":[1,2]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"y":[1,2],"x":1}"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"y":[2,1],"x":1}"#).unwrap();
        let inputs = BTreeMap::new();
        assert_eq!(stage_key("k", 1, &a, &inputs), stage_key("k", 1, &b, &inputs));
        assert_ne!(stage_key("k", 1, &a, &inputs), stage_key("k", 1, &c, &inputs));
        assert_ne!(stage_key("k", 1, &a, &inputs), stage_key("k", 2, &a, &inputs));
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    /// Keys name cache entries that outlive a build: the encoding must never drift (serde_json's float
    /// formatting, map order, the document's field names). These hashes are pinned; a change here
    /// orphans every user's cache and must be a deliberate, documented one. The same hashes come out of
    /// Python's `json.dumps(doc, sort_keys=True, separators=(",", ":"))` + hashlib (an outside check).
    #[test]
    fn golden_keys_are_pinned() {
        let params = serde_json::json!({
            "lr": 1e-3,
            "snr_db": -5.0,
            "loss_diff": 0.1,
            "hidden": [128],
            "schedule": "cosine",
            "nested": { "b": 2, "a": [0.5, -0.25] },
        });
        let mut inputs = BTreeMap::new();
        inputs.insert("features/synth_a/clean/shard00".to_string(), "ab".repeat(32));
        inputs.insert("audio".to_string(), "0f".repeat(32));
        assert_eq!(
            serde_json::to_string(&params).unwrap(),
            r#"{"hidden":[128],"loss_diff":0.1,"lr":0.001,"nested":{"a":[0.5,-0.25],"b":2},"schedule":"cosine","snr_db":-5.0}"#
        );
        assert_eq!(
            stage_key("train", 2, &params, &inputs),
            "4f52e73baf353b6679c1c98df871e2aefb6bcf6c215d2bf1bd2bd892fcff606b"
        );
        assert_eq!(
            stage_key("eval", 2, &serde_json::json!({}), &BTreeMap::new()),
            "61ced5929c30600dbceb11b28f06cdb9b3432c4f81beba97ad3c3d5c192c4596"
        );
    }
}
