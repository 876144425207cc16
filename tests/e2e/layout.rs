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
fn a_device_status_lives_in_a_file_named_for_it() {
    let http = src().join("http");
    assert!(http.join("device_status.rs").exists());
    assert!(
        !http.join("status.rs").exists(),
        "status.rs reads as /health"
    );
}
