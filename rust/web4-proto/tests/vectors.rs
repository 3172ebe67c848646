//! The shared test vectors (tests/vectors at the repository root) through the pure core:
//! RFC 8785 reference pairs and number corpus, RFC 8032 §7.1 and Wycheproof Ed25519.

use std::path::PathBuf;

use web4_proto::crypto::{self, Keypair};
use web4_proto::jcs::{self, Value};

/// Read at run time, not baked in with `env!`: the Makefile shares one cargo target dir
/// between clones, so a binary built in another (maybe deleted) clone can be the one that
/// runs here. `cargo test` sets CARGO_MANIFEST_DIR for the test process and runs it in the
/// package directory, so the current dir is the fallback when the binary is run by hand.
fn vectors() -> PathBuf {
    let package = match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir().expect("current dir"),
    };
    package.join("../../tests/vectors")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(vectors().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// JSON text -> Value; every JSON number is a double in JCS.
fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().expect("finite number")),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        serde_json::Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect())
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn jcs_reference_pairs() {
    for name in [
        "arrays",
        "french",
        "structures",
        "unicode",
        "values",
        "weird",
    ] {
        let input: serde_json::Value =
            serde_json::from_str(&read(&format!("jcs/input/{name}.json"))).unwrap();
        let expected = std::fs::read(vectors().join(format!("jcs/output/{name}.json"))).unwrap();
        let got = jcs::canonicalize(&to_value(&input)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "{name}"
        );
    }
}

#[test]
fn jcs_number_corpus() {
    let text = read("jcs/es6testfile_first10000.txt");
    let mut count = 0;
    for line in text.lines() {
        let (bits, expected) = line.split_once(',').unwrap();
        let f = f64::from_bits(u64::from_str_radix(bits, 16).unwrap());
        let got = jcs::canonicalize(&Value::Float(f)).unwrap();
        assert_eq!(std::str::from_utf8(&got).unwrap(), expected, "bits {bits}");
        count += 1;
    }
    assert_eq!(count, 10_000);
}

#[test]
fn rfc8032_section_7_1() {
    let cases: serde_json::Value = serde_json::from_str(&read("ed25519/rfc8032.json")).unwrap();
    for case in cases.as_array().unwrap() {
        let field = |k: &str| unhex(case[k].as_str().unwrap());
        let seed: [u8; 32] = field("secret_key").try_into().unwrap();
        let key = Keypair::from_seed(&seed);
        assert_eq!(key.public_key().to_vec(), field("public_key"));
        let msg = field("message");
        let sig = key.sign(&msg);
        assert_eq!(sig.to_vec(), field("signature"));
        assert_eq!(crypto::verify(&key.public_key(), &msg, &sig), Ok(()));
    }
}

#[test]
fn wycheproof_every_case() {
    let doc: serde_json::Value =
        serde_json::from_str(&read("ed25519/wycheproof_ed25519_test.json")).unwrap();
    let mut n = 0;
    for group in doc["testGroups"].as_array().unwrap() {
        let pk = unhex(group["publicKey"]["pk"].as_str().unwrap());
        for t in group["tests"].as_array().unwrap() {
            let ok = crypto::verify(
                &pk,
                &unhex(t["msg"].as_str().unwrap()),
                &unhex(t["sig"].as_str().unwrap()),
            )
            .is_ok();
            assert_eq!(ok, t["result"] == "valid", "tcId {}", t["tcId"]);
            n += 1;
        }
    }
    assert_eq!(n, 151);
}

#[test]
fn speccheck_policy_accepts_only_case_3() {
    let cases: serde_json::Value =
        serde_json::from_str(&read("ed25519/speccheck_cases.json")).unwrap();
    let got: String = cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ok = crypto::verify(
                &unhex(c["pub_key"].as_str().unwrap()),
                &unhex(c["message"].as_str().unwrap()),
                &unhex(c["signature"].as_str().unwrap()),
            )
            .is_ok();
            if ok {
                'V'
            } else {
                'X'
            }
        })
        .collect();
    assert_eq!(got, "XXXVXXXXXXXX");
}
