//! The shape of the source tree the design asks for (issue #22): `http`
//! talks to services and operations, never to the delivery engines or the
//! terminals' protocol, and no two files of one folder import each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A file's text without its unit tests (they may use anything).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("readable source file");
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The names that follow `prefix` in `code` (`super::` → `push`, …).
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    code.match_indices(prefix)
        .filter(|(i, _)| {
            let before = code[..*i].chars().next_back();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        })
        .map(|(i, _)| {
            code[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_two_files_of_one_folder_import_each_other() {
    // (folder, file) -> sibling modules it names.
    let mut uses: BTreeMap<(PathBuf, String), BTreeSet<String>> = BTreeMap::new();
    for path in rust_files(&src()) {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let folder = path.parent().expect("a file has a folder").to_path_buf();
        if stem == "mod" || stem == "lib" || stem == "main" {
            continue;
        }
        let code = code_of(&path);
        let mut names = names_after(&code, "super::");
        if let Ok(module) = folder.strip_prefix(src()) {
            if !module.as_os_str().is_empty() {
                let path = module.to_string_lossy().replace(['/', '\\'], "::");
                names.extend(names_after(&code, &format!("crate::{path}::")));
            }
        }
        let siblings: BTreeSet<String> = names
            .into_iter()
            .filter(|n| n != stem)
            .filter(|n| folder.join(format!("{n}.rs")).exists() || folder.join(n).is_dir())
            .collect();
        uses.insert((folder, stem.to_string()), siblings);
    }
    let mut cycles = Vec::new();
    for ((folder, file), siblings) in &uses {
        for sibling in siblings {
            let back = uses.get(&(folder.clone(), sibling.clone()));
            if file < sibling && back.is_some_and(|b| b.contains(file)) {
                cycles.push(format!("{}: {file} <-> {sibling}", folder.display()));
            }
        }
    }
    assert!(cycles.is_empty(), "files importing each other: {cycles:#?}");
}

#[test]
fn http_reaches_no_delivery_engine_nor_the_terminal_protocol() {
    let mut found = Vec::new();
    for path in rust_files(&src().join("http")) {
        let code = code_of(&path);
        for module in ["postgres", "collect", "delivery", "zk"] {
            if code.contains(&format!("crate::{module}::"))
                || code.contains(&format!("crate::{module};"))
            {
                found.push(format!("{} uses crate::{module}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "http reaches past services: {found:#?}");
}

#[test]
fn a_device_status_lives_in_a_file_named_for_it() {
    let http = src().join("http");
    assert!(http.join("device_status.rs").exists());
    assert!(
        !http.join("status.rs").exists(),
        "status.rs reads as /health"
    );
}

#[test]
fn background_parts_stop_and_wake_through_the_one_token_and_signal() {
    let own_stops = [
        "stopping: AtomicBool",
        "Mutex<bool>, Condvar",
        "Mutex<bool>,",
    ];
    let own_counters = ["changes: Mutex<u64>", "stored: Mutex<u64>"];
    let mut found = Vec::new();
    for path in rust_files(&src()) {
        if path.ends_with("signal.rs") {
            continue;
        }
        let code = code_of(&path);
        for pattern in own_stops.iter().chain(&own_counters) {
            if code.contains(pattern) {
                found.push(format!("{}: {pattern}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "stop flags or change counters of their own (use signal::Shutdown and signal::Changes): {found:#?}"
    );
}
