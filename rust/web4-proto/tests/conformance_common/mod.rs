//! Shared by the conformance vector tests: hex, the docs/conformance path, and the
//! compare-or-write step that keeps the committed JSON equal to what the code produces.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;
use web4_proto::session::put_varint;

/// `docs/conformance`, found at run time (the target dir may be shared between clones).
pub fn docs() -> PathBuf {
    let package = match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir().expect("current dir"),
    };
    package.join("../../docs/conformance")
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

pub fn varint(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, v);
    out
}

/// Compare `doc` with the committed `docs/conformance/<name>` (with
/// `WEB4_WRITE_VECTORS=1`, write it first); the committed document, parsed.
pub fn check_or_write(name: &str, doc: &Value, test: &str) -> Value {
    let path = docs().join(name);
    let mut text = serde_json::to_string_pretty(doc).expect("json");
    text.push('\n');
    if std::env::var_os("WEB4_WRITE_VECTORS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let committed =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        committed == text,
        "{name} differs from what the code produces now: rerun \
         `WEB4_WRITE_VECTORS=1 cargo test -p web4-proto --test {test}` and commit the file"
    );
    serde_json::from_str(&committed).expect("committed JSON")
}
