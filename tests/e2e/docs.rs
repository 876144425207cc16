//! The documentation against the repository: ARCHITECTURE.md names every
//! top-level module of `src/lib.rs` (and no other), and every relative link
//! in the README, the root documents and `docs/` reaches a file (and a
//! heading) inside the repository.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The modules `src/lib.rs` declares (`pub mod x;`, `mod x;`).
fn lib_modules(lib_rs: &str) -> BTreeSet<String> {
    lib_rs
        .lines()
        .map(str::trim)
        .map(|l| l.strip_prefix("pub ").unwrap_or(l))
        .filter_map(|l| l.strip_prefix("mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .map(|name| name.trim().to_string())
        .collect()
}

/// The modules ARCHITECTURE.md lists: the unindented "- `name` — …" lines
/// of its "## Modules" section.
fn listed_modules(architecture: &str) -> BTreeSet<String> {
    let section = architecture
        .split("\n## ")
        .find(|s| s.starts_with("Modules\n"))
        .expect("ARCHITECTURE.md has a '## Modules' section");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

/// A module missing from either side, said the way a reader fixes it.
fn module_list_mismatches(lib: &BTreeSet<String>, listed: &BTreeSet<String>) -> Vec<String> {
    let unlisted = lib
        .difference(listed)
        .map(|m| format!("src/lib.rs has `{m}`, ARCHITECTURE.md does not list it"));
    let stale = listed
        .difference(lib)
        .map(|m| format!("ARCHITECTURE.md lists `{m}`, src/lib.rs has no such module"));
    unlisted.chain(stale).collect()
}

#[test]
fn architecture_md_lists_exactly_the_modules_of_lib_rs() {
    let lib = lib_modules(&read(&Path::new(ROOT).join("src/lib.rs")));
    let listed = listed_modules(&read(&Path::new(ROOT).join("ARCHITECTURE.md")));
    assert!(lib.len() > 10, "read no modules from src/lib.rs: {lib:?}");
    let mismatches = module_list_mismatches(&lib, &listed);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn the_module_list_check_names_what_is_missing_on_each_side() {
    let lib = lib_modules("//! doc\npub mod zk;\n#[cfg(unix)]\npub mod http;\nmod sim;\n");
    assert_eq!(lib, ["http", "sim", "zk"].map(String::from).into());
    let listed = listed_modules(
        "# A\n\n## Modules\n\n- `zk` — protocol.\n- `time` — planned.\n  - `zk/wire` — nested, ignored.\n\n## Rules\n\n- `http` — not the list.\n",
    );
    assert_eq!(listed, ["time", "zk"].map(String::from).into());
    assert_eq!(
        module_list_mismatches(&lib, &listed),
        [
            "src/lib.rs has `http`, ARCHITECTURE.md does not list it",
            "src/lib.rs has `sim`, ARCHITECTURE.md does not list it",
            "ARCHITECTURE.md lists `time`, src/lib.rs has no such module",
        ]
    );
}

/// The Markdown documents users and contributors read.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut files: Vec<PathBuf> = [
        "README.md",
        "ARCHITECTURE.md",
        "CONTRIBUTING.md",
        "CHANGELOG.md",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    let mut guides: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    guides.sort();
    files.extend(guides);
    files
}

/// The lines of a Markdown text outside fenced code blocks.
fn prose_lines(markdown: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push(line);
        }
    }
    lines
}

/// The targets of the inline links and images of a Markdown text.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(markdown) {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, letters, digits, `-` and `_`
/// kept, spaces made `-`, everything else dropped.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a Markdown text's headings make (a repeated one gets `-1`, …).
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in prose_lines(markdown) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let base = anchor_of(heading.trim_start_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// `base/relative` with `.` and `..` resolved, or `None` when it climbs
/// above the filesystem root.
fn resolve(base: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = base.to_path_buf();
    for part in Path::new(relative).components() {
        match part {
            Component::ParentDir => {
                let climbed = path.pop();
                if !climbed {
                    return None;
                }
            }
            Component::Normal(name) => path.push(name),
            _ => {}
        }
    }
    Some(path)
}

/// What is wrong with one link of `doc`, if anything.
fn broken_link(root: &Path, doc: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
    let file = if path.is_empty() {
        doc.to_path_buf()
    } else {
        let dir = doc.parent().expect("a document's folder");
        match resolve(dir, path) {
            Some(file) if file.starts_with(root) => file,
            _ => return Some(format!("{target}: outside the repository")),
        }
    };
    if !file.exists() {
        return Some(format!("{target}: no such file"));
    }
    let is_markdown = file.extension().is_some_and(|e| e == "md");
    if !anchor.is_empty() && is_markdown && !anchors(&read(&file)).contains(anchor) {
        return Some(format!("{target}: no heading makes #{anchor}"));
    }
    None
}

#[test]
fn every_relative_link_in_the_docs_reaches_a_file_and_heading_in_the_repository() {
    let root = Path::new(ROOT);
    let mut checked = 0;
    let mut broken = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        let name = doc.strip_prefix(root).unwrap_or(&doc).display().to_string();
        if text.contains("../shared") {
            broken.push(format!(
                "{name}: mentions ../shared, which users do not have"
            ));
        }
        for target in link_targets(&text) {
            checked += 1;
            if let Some(why) = broken_link(root, &doc, &target) {
                broken.push(format!("{name}: {why}"));
            }
        }
    }
    assert!(checked > 50, "found only {checked} links");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_check_catches_missing_files_anchors_and_the_way_out() {
    let root = Path::new(ROOT);
    let readme = root.join("README.md");
    assert_eq!(broken_link(root, &readme, "docs/api.md"), None);
    assert_eq!(broken_link(root, &readme, "https://example.com/x"), None);
    assert_eq!(
        broken_link(root, &readme, "docs/nothing.md"),
        Some("docs/nothing.md: no such file".into())
    );
    assert_eq!(
        broken_link(root, &readme, "../shared/api.md"),
        Some("../shared/api.md: outside the repository".into())
    );
    assert!(broken_link(root, &readme, "#no-such-heading").is_some());
    assert_eq!(
        anchor_of(" Part 5 — push terminals and the punch journal"),
        "part-5--push-terminals-and-the-punch-journal"
    );
    assert_eq!(
        anchor_of(" `GET /devices/{id}/status`"),
        "get-devicesidstatus"
    );
    assert_eq!(
        link_targets("see [a](x.md#y) and ![b](p.png)\n```\n[c](z.md)\n```\n"),
        ["x.md#y", "p.png"]
    );
}
