//! The length-prefix cases of `docs/conformance/rtt_frames.json` (RTT_SPEC §4) against
//! the node's stream reader: each prefix is accepted with its length or refused with
//! its error, at the node's default maximum body size. (The frame cases of that file
//! are checked by `rust/web4-proto/tests/conformance_vectors.rs`, which writes it.)

use std::path::PathBuf;

use web4_net::framing::{decode_prefix, FrameError};
use web4_net::Config;

fn frames_json() -> serde_json::Value {
    let package = match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir().expect("current dir"),
    };
    let path = package.join("../../docs/conformance/rtt_frames.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("rtt_frames.json")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn length_prefixes_are_accepted_or_refused_as_the_vectors_say() {
    let doc = frames_json();
    let max = Config::default().max_frame();
    assert_eq!(doc["max_body"].as_u64(), Some(max as u64));
    let cases = doc["prefixes"].as_array().expect("prefixes");
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = unhex(case["hex"].as_str().unwrap());
        let expect = &case["expect"];
        let got = decode_prefix(&bytes, max);
        match expect["result"].as_str().unwrap() {
            "accept" => {
                let len = expect["length"].as_u64().unwrap() as usize;
                assert!(
                    matches!(got, Ok(Some((used, l))) if used == bytes.len() && l == len),
                    "{name}: {got:?}"
                );
            }
            "refuse" => {
                let error = match got {
                    Err(FrameError::Oversize { .. }) => "oversize",
                    Err(FrameError::Malformed) => "non_minimal",
                    other => panic!("{name}: accepted: {other:?}"),
                };
                assert_eq!(error, expect["error"].as_str().unwrap(), "{name}");
            }
            other => panic!("{name}: result {other}"),
        }
    }
}
