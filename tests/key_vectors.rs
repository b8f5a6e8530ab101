//! The shared cache-key vectors (`../shared/vectors/cache_keys.json`) every language must pass.

use std::path::Path;

use cacheness::cache::keys::params_key;
use cacheness::Code;
use serde_json::Value;

fn load_vectors() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/cache_keys.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the shared key vectors at {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

fn field<'a>(case: &'a Value, name: &str) -> &'a str {
    case[name].as_str().unwrap_or_else(|| panic!("vector case without a string {name:?}: {case}"))
}

#[test]
fn cases_give_the_canonical_text_and_key() {
    let vectors = load_vectors();
    let cases = vectors["cases"].as_array().expect("vectors have a \"cases\" array");
    assert!(!cases.is_empty(), "no cases in the vectors");
    for case in cases {
        let params = field(case, "params");
        let (key, canonical) = params_key(params).unwrap_or_else(|e| panic!("params {params} rejected: {e}"));
        assert_eq!(canonical, field(case, "canonical"), "canonical text of {params}");
        assert_eq!(key, field(case, "key"), "key of {params}");
    }
    println!("{} key vector cases passed", cases.len());
}

#[test]
fn error_cases_are_invalid_argument() {
    let vectors = load_vectors();
    let errors = vectors["errors"].as_array().expect("vectors have an \"errors\" array");
    assert!(!errors.is_empty(), "no error cases in the vectors");
    for case in errors {
        let params = field(case, "params");
        match params_key(params) {
            Ok((key, canonical)) => {
                panic!("params {params:?} should be rejected ({}), got {canonical} -> {key}", case["why"])
            }
            Err(e) => assert_eq!(e.code, Code::InvalidArgument, "params {params:?}: {e}"),
        }
    }
    println!("{} key vector error cases passed", errors.len());
}
