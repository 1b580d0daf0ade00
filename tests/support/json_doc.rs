//! Checks a real `--json` output against its table in docs/json.md.
//!
//! The section `## `kmemdbg.NAME/N`` holds one table (or several: the output
//! matches one of them) of `| `path` | type | meaning |` rows. The check fails
//! on a field the table does not list, a listed field that is missing (unless
//! its type says `optional`), and a value of another type. Used by
//! tests/docs.rs and by the tests that produce outputs too costly to make
//! twice (build, gdb, convert with a source build). Never writes anything.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One documented field.
#[derive(Debug, Clone)]
struct Spec {
    optional: bool,
    types: BTreeSet<String>,
    /// `(as kmemdbg.X/N path)`: the value has the layout of that path.
    like: Option<(String, String)>,
}

type Table = BTreeMap<String, Spec>;

fn json_md() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/json.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The tables of `schema`'s section, or an error naming what is missing.
fn tables(doc: &str, schema: &str) -> Result<Vec<Table>, String> {
    let heading = format!("## `{schema}`");
    let start = doc
        .lines()
        .position(|l| l.trim_end() == heading)
        .ok_or_else(|| format!("docs/json.md has no section {heading}"))?;
    let mut out: Vec<Table> = Vec::new();
    let mut in_table = false;
    for line in doc.lines().skip(start + 1) {
        if line.starts_with("## ") {
            break;
        }
        let t = line.trim();
        if !t.starts_with('|') {
            in_table = false;
            continue;
        }
        let cells: Vec<&str> = t.trim_matches('|').split(" | ").map(str::trim).collect();
        if cells.first() == Some(&"field") {
            out.push(Table::new());
            in_table = true;
            continue;
        }
        if !in_table || cells.len() < 2 || cells[0].starts_with("---") {
            continue;
        }
        let path = cells[0].trim_matches('`').to_string();
        // `(as SCHEMA PATH)` may stand in the type or the meaning column.
        let meaning = cells.get(2).copied().unwrap_or_default();
        let type_cell = if meaning.starts_with("(as ") {
            format!("{} {meaning}", cells[1])
        } else {
            cells[1].to_string()
        };
        let spec =
            parse_type(&type_cell).map_err(|e| format!("docs/json.md {schema} `{path}`: {e}"))?;
        if let Some(table) = out.last_mut() {
            table.insert(path, spec);
        }
    }
    if out.is_empty() {
        return Err(format!("docs/json.md section {heading} has no field table"));
    }
    Ok(out)
}

fn parse_type(cell: &str) -> Result<Spec, String> {
    let mut text = cell.trim();
    let mut like = None;
    if let Some(i) = text.find("(as ") {
        let inner = text[i + 4..].trim_end_matches(')');
        let mut parts = inner.splitn(2, ' ');
        let schema = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().trim().to_string();
        like = Some((schema, path));
        text = text[..i].trim();
    }
    let optional = text.starts_with("optional ");
    let text = text.trim_start_matches("optional ");
    let mut types = BTreeSet::new();
    for t in text.split(" or ") {
        let t = t.trim();
        match t {
            "string" | "integer" | "number" | "bool" | "null" | "array" | "object" | "map" => {
                types.insert(t.to_string());
            }
            _ => return Err(format!("unknown type {t:?} in {cell:?}")),
        }
    }
    Ok(Spec {
        optional,
        types,
        like,
    })
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(v: &Value, spec: &Spec) -> bool {
    let t = type_of(v);
    spec.types.contains(t)
        || (t == "integer" && spec.types.contains("number"))
        || (t == "object" && spec.types.contains("map"))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

struct Walk<'a> {
    doc: &'a str,
    schema: String,
    errors: Vec<String>,
    seen: BTreeSet<String>,
}

impl Walk<'_> {
    /// Checks `v`, documented at `path` of `table` (of `schema`), shown as `shown`.
    fn node(&mut self, v: &Value, table: &Table, schema: &str, path: &str, shown: &str) {
        if !path.is_empty() {
            let Some(spec) = table.get(path) else {
                self.errors.push(format!(
                    "`{shown}` is in the output of {} but not in its table",
                    self.schema
                ));
                return;
            };
            self.seen.insert(shown.to_string());
            if !type_ok(v, spec) {
                self.errors.push(format!(
                    "`{shown}` is {} ({v}), the table says {:?}",
                    type_of(v),
                    spec.types
                ));
                return;
            }
            if let Some((other, other_path)) = spec.like.clone() {
                if v.is_null() {
                    return;
                }
                match tables(self.doc, &other) {
                    Ok(t) => {
                        let t = t.into_iter().next().unwrap_or_default();
                        self.node(v, &t, &other, &other_path, shown);
                    }
                    Err(e) => self.errors.push(e),
                }
                return;
            }
            if spec.types.contains("map") && v.is_object() {
                return;
            }
        }
        match v {
            Value::Object(map) => {
                for (key, child) in map {
                    let p = join(path, key);
                    self.node(child, table, schema, &p, &join(shown, key));
                }
                for (p, spec) in table {
                    let Some(name) = direct_child(path, p) else {
                        continue;
                    };
                    if !spec.optional && !map.contains_key(name) {
                        self.errors.push(format!(
                            "`{}` is in the table of {schema} but missing from the output (mark it `optional` if it may be absent)",
                            join(shown, name)
                        ));
                    }
                }
            }
            Value::Array(items) => {
                let p = format!("{path}[]");
                for item in items {
                    self.node(item, table, schema, &p, &format!("{shown}[]"));
                }
            }
            _ => {}
        }
    }
}

/// The field name when `row` is a direct field of the object at `path`.
fn direct_child<'r>(path: &str, row: &'r str) -> Option<&'r str> {
    let rest = if path.is_empty() {
        row
    } else {
        row.strip_prefix(path)?.strip_prefix('.')?
    };
    (!rest.is_empty() && !rest.contains('.') && !rest.contains('[')).then_some(rest)
}

/// Checks `v` against docs/json.md; returns the documented paths it holds.
pub fn check(v: &Value) -> Result<BTreeSet<String>, String> {
    let schema = v
        .get("schema")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("output without a `schema` string: {v}"))?
        .to_string();
    let doc = json_md();
    let mut failures = Vec::new();
    for (i, table) in tables(&doc, &schema)?.iter().enumerate() {
        let mut walk = Walk {
            doc: &doc,
            schema: schema.clone(),
            errors: Vec::new(),
            seen: BTreeSet::new(),
        };
        walk.node(v, table, &schema, "", "");
        if walk.errors.is_empty() {
            return Ok(walk.seen);
        }
        let mut unique = BTreeSet::new();
        walk.errors.retain(|e| unique.insert(e.clone()));
        failures.push(format!(
            "table {}:\n    {}",
            i + 1,
            walk.errors.join("\n    ")
        ));
    }
    Err(format!(
        "{schema}: the output does not match docs/json.md (fix the table with the code):\n  {}",
        failures.join("\n  ")
    ))
}

/// Panics with the differences when `v` does not match its table.
pub fn assert_documented(v: &Value) -> BTreeSet<String> {
    check(v).unwrap_or_else(|e| panic!("{e}"))
}

/// For tests' JSON helpers: checks `v` when it is a kmemdbg output or file
/// (a `schema` of `kmemdbg.NAME/N`), and passes anything else.
pub fn check_if_schema(v: &Value) {
    let is_ours = v
        .get("schema")
        .and_then(Value::as_str)
        .is_some_and(|s| s.starts_with("kmemdbg."));
    if is_ours {
        assert_documented(v);
    }
}
