//! The three encodings of an RPC answer, turned into one shape: a sequence
//! of [`Item`]s (a bare string such as `Module: core`, or a struct of
//! scalar fields). Pure; never panics. Also the single lines of a record
//! pasted out of its answer: kamcmd's `key: value` without braces, and a
//! pretty-printed JSON member (`"PID": 12,`).

/// A scalar as printed: a whole number (kept wide and signed, so a wrapped
/// counter stays visible) or anything else as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i128),
    Text(String),
}

impl Value {
    pub fn int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Text(t) => int(t),
        }
    }

    pub fn text(&self) -> Option<String> {
        match self {
            Value::Int(i) => Some(i.to_string()),
            Value::Text(t) => Some(t.clone()),
        }
    }
}

/// One element of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Text(String),
    Struct(Vec<(String, Value)>),
}

/// A whole number, optionally signed; Markdown bold around it (`**12**`,
/// as pasted into an issue) is not part of it.
pub fn int(s: &str) -> Option<i128> {
    let s = s.trim().trim_matches('*').trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || digits.len() > 38 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// kamcmd's `key: value` value.
pub fn value(s: &str) -> Value {
    match int(s) {
        Some(i) => Value::Int(i),
        None => Value::Text(s.to_string()),
    }
}

/// A JSON-RPC answer (or a bare JSON result): the `result` member when
/// there is one, flattened into items. `None` when it is not JSON.
pub fn json_items(text: &str) -> Option<Vec<Item>> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let body = match &v {
        serde_json::Value::Object(o) if o.contains_key("result") => o.get("result")?,
        other => other,
    };
    let mut out = Vec::new();
    json_visit(body, &mut out, 0);
    Some(out)
}

fn json_scalar(v: &serde_json::Value) -> Option<Value> {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Value::Int(i as i128))
            } else if let Some(u) = n.as_u64() {
                Some(Value::Int(u as i128))
            } else {
                Some(Value::Text(n.to_string()))
            }
        }
        serde_json::Value::String(s) => Some(value(s)),
        serde_json::Value::Bool(b) => Some(Value::Text(b.to_string())),
        _ => None,
    }
}

fn json_visit(v: &serde_json::Value, out: &mut Vec<Item>, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        serde_json::Value::Array(a) => {
            for e in a {
                json_visit(e, out, depth + 1);
            }
        }
        serde_json::Value::Object(o) => {
            let mut fields = Vec::new();
            for (k, e) in o {
                match json_scalar(e) {
                    Some(s) => fields.push((k.clone(), s)),
                    None => json_visit(e, out, depth + 1),
                }
            }
            if !fields.is_empty() {
                out.push(Item::Struct(fields));
            }
        }
        serde_json::Value::String(s) => out.push(Item::Text(s.clone())),
        _ => {}
    }
}

enum Tok<'a> {
    Open(&'a str),
    Close(&'a str),
    Text(&'a str),
}

fn tokens(text: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        let before = &rest[..lt];
        if !before.trim().is_empty() {
            out.push(Tok::Text(before));
        }
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else {
            break;
        };
        let tag = after[..gt].trim();
        if let Some(name) = tag.strip_prefix('/') {
            out.push(Tok::Close(name.trim()));
        } else if !tag.starts_with('?') && !tag.starts_with('!') {
            let name = tag.split_whitespace().next().unwrap_or("");
            if tag.ends_with('/') {
                out.push(Tok::Open(name.trim_end_matches('/')));
                out.push(Tok::Close(name.trim_end_matches('/')));
            } else {
                out.push(Tok::Open(name));
            }
        }
        rest = &after[gt + 1..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// An XML-RPC `methodResponse`: structs of scalar members and bare strings.
/// `None` when no `methodResponse` is in it.
pub fn xml_items(text: &str) -> Option<Vec<Item>> {
    if !text.contains("methodResponse") {
        return None;
    }
    let mut out = Vec::new();
    let mut structs: Vec<Vec<(String, Value)>> = Vec::new();
    let mut name: Option<String> = None;
    let mut in_name = false;
    let mut scalar: Option<String> = None;
    let mut typed = false;
    for t in tokens(text) {
        match t {
            Tok::Open("struct") => structs.push(Vec::new()),
            Tok::Close("struct") => {
                if let Some(fields) = structs.pop() {
                    match structs.last_mut() {
                        Some(parent) => parent.extend(fields),
                        None => out.push(Item::Struct(fields)),
                    }
                }
            }
            Tok::Open("name") => in_name = true,
            Tok::Close("name") => in_name = false,
            Tok::Open("value") => {
                scalar = None;
                typed = false;
            }
            Tok::Open(
                "int" | "i4" | "i8" | "string" | "double" | "boolean" | "long" | "ulong" | "i1"
                | "i2",
            ) => {
                typed = true;
                scalar = Some(String::new());
            }
            Tok::Text(s) => {
                if in_name {
                    name = Some(unescape(s.trim()));
                } else {
                    scalar = Some(unescape(s));
                }
            }
            Tok::Close("value") => {
                let v = scalar.take();
                let _ = typed;
                if let Some(v) = v {
                    match (structs.last_mut(), name.take()) {
                        (Some(fields), Some(n)) => fields.push((n, value(v.trim()))),
                        (None, _) => out.push(Item::Text(v)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(out)
}

/// The JSON member names that can start a record cut out of an answer.
pub(super) const MEMBER_KEYS: [&str; 8] = [
    "PID",
    "IDX",
    "entry",
    "pid",
    "total",
    "total_size",
    "free",
    "used",
];

/// kamcmd's `key: value` (the key one word).
pub(super) fn bare_field(t: &str) -> Option<(String, Value)> {
    let (k, v) = t.split_once(':')?;
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) || k.starts_with('"') {
        return None;
    }
    Some((k.to_string(), value(v.trim())))
}

/// One pretty-printed JSON member on its own line: `"KEY": 12,` or
/// `"KEY": "text"`. Objects, arrays and escapes are not members here.
pub(super) fn json_member(t: &str) -> Option<(String, Value)> {
    let rest = t.strip_prefix('"')?;
    let (k, v) = rest.split_once("\":")?;
    if k.is_empty() || k.contains(['"', '\\']) {
        return None;
    }
    let v = v.trim().trim_end_matches(',').trim_end();
    let value = match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(text) if !text.contains(['"', '\\']) => Value::Text(text.to_string()),
        Some(_) => return None,
        None => Value::Int(int(v)?),
    };
    Some((k.to_string(), value))
}
