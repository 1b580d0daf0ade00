//! An allocation site as Kamailio prints it (`core: core/x.c: f(12)` and the
//! layouts of 3.x, 4.x and 6.0's RPC file), split into module, file,
//! function and line. Pure; never panics.

use super::bytes::trim_end;

/// An allocation site as Kamailio prints it, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Site {
    /// The text after `alloc'd from ` / `bytes from `, as printed.
    pub text: String,
    /// `core`, `tm`, ...; `<core>` (4.x) reads as `core`; none in 3.x.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The source file (`core/mem/q_malloc.c`, `t_hooks.c`).
    pub file: String,
    /// The function (`qm_shm_lock_init`).
    pub function: String,
    /// The source line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// Splits a site: `core: core/x.c: f(1)` (5.x/6.x), `<core>: mem/shm_mem.c: f(199)`
/// (4.x), `timer.c: init_timer(52)` (3.x), `core: core/x.c:123 / f()` (6.0 RPC file).
pub fn parse_site(text: &[u8]) -> Site {
    let text = String::from_utf8_lossy(trim_end(text)).into_owned();
    let (place, function, line) = split_function(&text);
    let (module, file) = match place.find(": ") {
        Some(i) => {
            let m = place[..i].trim();
            let m = m
                .strip_prefix('<')
                .and_then(|m| m.strip_suffix('>'))
                .unwrap_or(m);
            (Some(m.to_string()), place[i + 2..].trim().to_string())
        }
        None => (module_from_path(place), place.trim().to_string()),
    };
    Site {
        module,
        file,
        function,
        line,
        text: text.clone(),
    }
}

/// 3.x prints no module; a `modules/NAME/` path still names one.
fn module_from_path(file: &str) -> Option<String> {
    let f = file.trim();
    for root in ["modules/", "modules_k/", "modules_s/"] {
        if let Some(rest) = f.strip_prefix(root) {
            return rest.split('/').next().map(str::to_string);
        }
    }
    None
}

/// `(place, function, line)` from `place: f(12)` or `place:12 / f()`.
fn split_function(text: &str) -> (&str, String, Option<u32>) {
    if let Some(i) = text.rfind(" / ") {
        // 6.0 RPC file: "core: core/x.c:123 / f()"
        let func = text[i + 3..].trim().trim_end_matches("()").to_string();
        let left = &text[..i];
        if let Some(c) = left.rfind(':') {
            if let Ok(line) = left[c + 1..].trim().parse::<u32>() {
                return (&left[..c], func, Some(line));
            }
        }
        return (left, func, None);
    }
    let Some(i) = text.rfind(": ") else {
        return ("", text.to_string(), None);
    };
    let place = &text[..i];
    let f = text[i + 2..].trim();
    match (f.rfind('('), f.strip_suffix(')')) {
        (Some(open), Some(inner)) => {
            let line = inner[open + 1..].trim().parse::<u32>().ok();
            (place, f[..open].to_string(), line)
        }
        _ => (place, f.to_string(), None),
    }
}
