//! The one rule for every name a pipeline gives (pipeline, corpora, noise sources, models, experiments):
//! 1 to 64 ASCII letters, digits, '_', '-' or '.', not starting with '.'. So a name is always one safe path
//! component: no '/', '\', '+' (train corpora are joined with '+' in stage ids), whitespace, "..", or
//! absolute path. Two names of the same section may not differ only by case, since they would name the
//! same folder on a case-insensitive file system (manifests/<corpus>.parquet, models/<pipeline>/<model>/).

/// The rule, as error messages state it.
pub const RULE: &str = "names are 1 to 64 ASCII letters, digits, '_', '-' or '.', not starting with '.'";

/// Whether `name` follows [`RULE`].
pub fn is_valid(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

/// The first two names that are equal up to ASCII case, if any.
pub fn case_collision<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<(&'a str, &'a str)> {
    let mut seen: std::collections::BTreeMap<String, &str> = std::collections::BTreeMap::new();
    for n in names {
        if let Some(first) = seen.insert(n.to_ascii_lowercase(), n) {
            return Some((first, n));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_safe_path_components() {
        for ok in ["mlp", "edrl_mea", "synth-a", "v1.2", "A"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in ["", "../x", "/abs", "a+b", "a/b", "a\\b", "..", ".hidden", "a b", "é", &"x".repeat(65)] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert_eq!(case_collision(["a", "B", "b"]), Some(("B", "b")));
        assert_eq!(case_collision(["a", "b"]), None);
    }
}
