//! The code's layout rules, checked on every `cargo test`: the simulation (`src/domain`,
//! `src/state`) knows nothing of HTTP or of webhook delivery, and no source file grows past
//! ~500 lines without saying why at its top.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn files_under(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut out);
    assert!(!out.is_empty(), "no Rust files under {dir}");
    out
}

#[test]
fn the_simulation_imports_nothing_of_http_or_delivery() {
    let forbidden = [
        "axum",
        "hyper",
        "crate::api",
        "crate::admin",
        "crate::error",
        "crate::webhook::",
        "tokio",
    ];
    let mut found = Vec::new();
    for dir in ["src/domain", "src/state"] {
        for file in files_under(dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                // Doc comments may name the other side; code may not.
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for word in forbidden {
                    if line.contains(word) {
                        found.push(format!("{}:{}: {word}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the simulation reaches for HTTP:\n{}",
        found.join("\n")
    );
}

#[test]
fn long_files_say_why_at_their_top() {
    let mut long = Vec::new();
    for file in files_under("src") {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        let says_why = text
            .lines()
            .take(15)
            .any(|l| l.contains("Longer than 500 lines:"));
        if lines > 520 && !says_why {
            long.push(format!("{} ({lines} lines)", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over ~500 lines without a `Longer than 500 lines:` reason at the top:\n{}",
        long.join("\n")
    );
}
