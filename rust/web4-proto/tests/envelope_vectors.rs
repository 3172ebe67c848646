//! The published envelope vectors (`docs/conformance/{cip,hcp,lip}_envelopes.json`)
//! against the Rust half of the validator, without Python: the parser (check 1's limits
//! and syntax) and the signature check (check 3) over the parsed tree.
//!
//! Theory of operation: each case's bytes are parsed with the receiver's limits as the
//! file states them. A case the parser refuses must be a check-1 refusal, and the cases
//! named in `PARSE_REFUSALS` must be refused by it; every other case parses (the later
//! checks decide it). Then `verify_received` (with the case's transport key, if any)
//! must give the check-3 error the case expects, and must pass for every case accepted
//! or refused after check 3. Checks 1 (structure), 2 and 4-7 are the Python
//! validator's; `tests/unit/test_conformance_vectors.py` runs the whole of each case.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use web4_proto::envelope::verify_received;
use web4_proto::json::{parse, Limits};
use web4_proto::EnvelopeError;

/// (file, case): refused by the parser itself.
const PARSE_REFUSALS: &[(&str, &str)] = &[
    ("cip", "oversize_by_one_byte"),
    ("cip", "duplicate_key"),
    ("cip", "nan_number"),
    ("cip", "infinity_number"),
    ("cip", "number_overflows_double"),
    ("cip", "not_utf8"),
    ("cip", "malformed_json"),
    ("cip", "nested_too_deep"),
    ("hcp", "oversize_by_one_byte"),
    ("lip", "oversize_by_one_byte"),
    ("lip", "nested_too_deep"),
];

/// Read at run time, not baked in with `env!`: the Makefile shares one cargo target dir
/// between clones, so the binary that runs may have been built in another clone.
fn load(name: &str) -> Value {
    let package = match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::current_dir().expect("current dir"),
    };
    let path = package.join(format!("../../docs/conformance/{name}_envelopes.json"));
    let path = path.display().to_string();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("vector file is JSON")
}

/// The exact bytes a case delivers: `wire` (UTF-8) or `wire_base64`, then `pad_spaces`.
fn wire(case: &Value) -> Vec<u8> {
    let mut data = match case.get("wire_base64") {
        Some(b) => B64
            .decode(b.as_str().expect("base64 text"))
            .expect("base64"),
        None => case["wire"].as_str().expect("wire").as_bytes().to_vec(),
    };
    let pad = case.get("pad_spaces").and_then(Value::as_u64).unwrap_or(0);
    data.resize(data.len() + pad as usize, b' ');
    data
}

fn check_file(name: &str) -> usize {
    let doc = load(name);
    let receiver = &doc["receiver"];
    let limits = Limits {
        max_bytes: receiver["max_bytes"].as_u64().expect("max_bytes") as usize,
        max_depth: receiver["max_depth"].as_u64().expect("max_depth") as usize,
    };
    let checks = &doc["errors"];
    let mut seen = 0;
    for case in doc["cases"].as_array().expect("cases") {
        let case_name = case["name"].as_str().expect("name");
        let expect = &case["expect"];
        let error = expect.get("error").and_then(Value::as_str);
        let check = error.map(|e| checks[e]["check"].as_u64().expect("check number"));
        let parsed = parse(&wire(case), limits);
        let must_refuse = PARSE_REFUSALS.contains(&(name, case_name));
        let Ok(parsed) = parsed else {
            assert!(
                must_refuse,
                "{name}/{case_name}: refused by the parser: {parsed:?}"
            );
            assert_eq!(error, Some("InvalidEnvelopeError"), "{name}/{case_name}");
            seen += 1;
            continue;
        };
        assert!(!must_refuse, "{name}/{case_name}: the parser took it");
        let key: Option<[u8; 32]> = case.get("transport_key_base64").map(|k| {
            let raw = B64
                .decode(k.as_str().expect("key text"))
                .expect("key base64");
            raw.try_into().expect("32-byte key")
        });
        let verified = verify_received(&parsed.value, key.as_ref());
        match (error, check) {
            (Some("SignatureMismatchError"), _) => assert!(
                matches!(verified, Err(EnvelopeError::BadSignature(_))),
                "{name}/{case_name}: {verified:?}"
            ),
            (Some("FingerprintMismatchError"), _) => assert!(
                matches!(verified, Err(EnvelopeError::FingerprintMismatch { .. })),
                "{name}/{case_name}: {verified:?}"
            ),
            (Some("MissingPublicKeyError"), _) => assert_eq!(
                verified,
                Err(EnvelopeError::MissingKey),
                "{name}/{case_name}"
            ),
            (None, _) | (Some(_), Some(4..)) => {
                assert!(verified.is_ok(), "{name}/{case_name}: {verified:?}")
            }
            _ => {} // checks 1 (structure) and 2 come before the signature: not stated here
        }
        seen += 1;
    }
    seen
}

#[test]
fn cip_envelope_vectors() {
    assert!(check_file("cip") >= 50);
}

#[test]
fn hcp_envelope_vectors() {
    assert!(check_file("hcp") >= 49);
}

#[test]
fn lip_envelope_vectors() {
    assert!(check_file("lip") >= 36);
}
