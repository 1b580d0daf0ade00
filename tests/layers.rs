//! The layer table of ARCHITECTURE.md, enforced: every `crate::X` a module
//! of `src/` names must sit in the module's own row of the table or in a row
//! below it (arrows point down only), and every module of `src/` must have
//! a row. Reads the sources as text; builds nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The table's rows, top (face) first: module name -> row index.
fn layer_table(architecture: &str) -> BTreeMap<String, (usize, String)> {
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    let mut index = 0;
    for line in architecture.lines() {
        let l = line.trim();
        if l.starts_with("| layer | modules |") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if !l.starts_with('|') {
            break;
        }
        if l.starts_with("| ---") || l.starts_with("|---") {
            continue;
        }
        let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
        let (Some(layer), Some(modules)) = (cells.first(), cells.get(1)) else {
            continue;
        };
        for name in modules.split('`').skip(1).step_by(2) {
            rows.insert(name.to_string(), (index, layer.to_string()));
        }
        index += 1;
    }
    rows
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a source text names through `crate::`, with the
/// line each is named on. Comment lines are skipped.
fn crate_uses(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().last();
            let after = &rest[i + "crate::".len()..];
            rest = after;
            if matches!(before, Some(c) if c == '$' || c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = after.strip_prefix('{') {
                // `use crate::{a, b::c, d::{e, f}}`: the first ident of each item at depth 0
                let mut depth = 0;
                let mut item_start = true;
                let mut ident = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && (c.is_alphanumeric() || c == '_') => ident.push(c),
                        _ => {
                            if item_start && !ident.is_empty() {
                                out.push((std::mem::take(&mut ident), n + 1));
                                item_start = false;
                            }
                        }
                    }
                    if c == ',' && depth == 0 && !ident.is_empty() {
                        out.push((std::mem::take(&mut ident), n + 1));
                    }
                }
                if !ident.is_empty() {
                    out.push((ident, n + 1));
                }
            } else {
                let ident: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !ident.is_empty() {
                    out.push((ident, n + 1));
                }
            }
        }
    }
    out
}

#[test]
fn crate_uses_reads_paths_and_groups() {
    let uses = crate_uses(
        "use crate::fsx;\n// crate::commands in a comment\nuse crate::{runner, mem::{Pool, Allocator}, units};\nlet x = crate::kamcmd::Kamcmd::new(None);\nmacro_rules! m { () => { $crate::cli } }\n",
    );
    let names: Vec<&str> = uses.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["fsx", "runner", "mem", "units", "kamcmd"]);
    assert_eq!(uses[4].1, 4);
}

#[test]
fn no_import_points_up_a_layer() {
    let architecture = std::fs::read_to_string(repo().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md at the repository root");
    let table = layer_table(&architecture);
    assert!(
        table.len() > 10,
        "ARCHITECTURE.md has no layer table (a markdown table whose header starts \
         `| layer | modules |`, modules in backticks): {table:?}"
    );
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap_or(file);
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some((row, layer)) = table.get(&module) else {
            problems.push(format!(
                "src/{}: module `{module}` is not in ARCHITECTURE.md's layer table: add it to \
                 the row of its layer (and a section saying what it is for)",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (used, line) in crate_uses(&text) {
            if used == module {
                continue;
            }
            match table.get(&used) {
                Some((used_row, used_layer)) if used_row < row => problems.push(format!(
                    "src/{}:{line}: `{module}` ({layer}) uses `crate::{used}` ({used_layer}), \
                     a layer above it: arrows point down only (move the shared piece down, \
                     or fix the table in ARCHITECTURE.md if the layering changed)",
                    rel.display()
                )),
                // crate-root items (`crate::ExitStatus`) and modules not in src/
                _ => {}
            }
        }
    }
    for name in table.keys() {
        if !src.join(name).is_dir() && !src.join(format!("{name}.rs")).is_file() {
            problems.push(format!(
                "ARCHITECTURE.md's layer table names `{name}`, but there is no src/{name}.rs \
                 or src/{name}/"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The code of a source file without its unit tests (`#[cfg(test)] mod
/// tests` and files that are test modules themselves).
fn non_test_code(path: &Path, text: &str) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    if name.is_some_and(|n| n == "tests.rs" || n.ends_with("_tests.rs")) {
        return String::new();
    }
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod tests"))
        {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn every_file_write_and_removal_goes_through_fsx() {
    const CALLS: [&str; 5] = [
        "remove_file(",
        "remove_dir(",
        "remove_dir_all(",
        "fs::write(",
        "File::create(",
    ];
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for file in &files {
        if file.ends_with("fsx.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (n, line) in non_test_code(file, &text).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if let Some(call) = CALLS.iter().find(|c| line.contains(*c)) {
                problems.push(format!(
                    "{}:{}: `{call}` outside src/fsx.rs: every write and removal of a file goes \
                     through fsx (fsx::replace, fsx::create, fsx::remove, ...)",
                    file.strip_prefix(&src).unwrap_or(file).display(),
                    n + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The longest a file of `src/` may be: a file a person can hold in their head.
const MAX_LINES: usize = 1000;

/// Every `.rs` file under `dir` with its line count, longest first.
fn line_counts(dir: &Path) -> Vec<(PathBuf, usize)> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let mut out: Vec<(PathBuf, usize)> = files
        .into_iter()
        .map(|f| {
            let n = std::fs::read_to_string(&f).map_or(0, |t| t.lines().count());
            (f, n)
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[test]
fn no_source_file_is_over_a_thousand_lines() {
    let root = repo();
    let counts = line_counts(&root.join("src"));
    assert!(
        counts.len() > 50,
        "found only {} files under src/",
        counts.len()
    );
    let over: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| {
            format!(
                "{}: {n} lines (at most {MAX_LINES}: split it along a seam it already has)",
                f.strip_prefix(&root).unwrap_or(f).display()
            )
        })
        .collect();
    assert!(over.is_empty(), "{}", over.join("\n"));
    // the test files are held to the same length, as a note rather than a failure
    for (f, n) in line_counts(&root.join("tests")) {
        if n > MAX_LINES {
            eprintln!(
                "note: {}: {n} lines (over {MAX_LINES})",
                f.strip_prefix(&root).unwrap_or(&f).display()
            );
        }
    }
}

#[test]
fn line_counts_count_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let long = "fn f() {}\n".repeat(MAX_LINES + 1);
    std::fs::write(dir.path().join("long.rs"), &long).expect("write");
    std::fs::write(dir.path().join("short.rs"), "fn g() {}\n").expect("write");
    let counts = line_counts(dir.path());
    assert_eq!(counts.len(), 2);
    assert!(counts[0].0.ends_with("long.rs"));
    assert_eq!(counts[0].1, MAX_LINES + 1);
    assert_eq!(counts[1].1, 1);
}

/// The `/proc` paths a line of code names (inside string literals); comments
/// and text meant for a person (`readlink /proc/PID/exe` in a hint) are not code
/// that reads, so only literals that start with `/proc` count.
fn proc_literals(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("\"/proc") {
        let lit = &rest[i + 1..];
        let end = lit.find('"').unwrap_or(lit.len());
        out.push(lit[..end].to_string());
        rest = &lit[end..];
    }
    out
}

#[test]
fn proc_literals_are_found_in_strings_only() {
    assert_eq!(
        proc_literals(r#"read(format!("/proc/{pid}/fd")); let x = "say /proc";"#),
        ["/proc/{pid}/fd"]
    );
    assert!(proc_literals("// reads /proc/PID/stat").is_empty());
}

#[test]
fn only_procfs_reads_proc() {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        if file.ends_with("procfs.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (n, line) in non_test_code(file, &text).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for lit in proc_literals(line) {
                problems.push(format!(
                    "src/{}:{}: reads {lit:?} outside src/procfs.rs: /proc is read in one \
                     place (add a function to procfs and call it)",
                    file.strip_prefix(&src).unwrap_or(file).display(),
                    n + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
