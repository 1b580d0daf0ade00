//! The CMake side of the engine (6.x): the memory-debug option in
//! `cmake/defs.cmake` and in a configured build's `CMakeCache.txt`, and the
//! option a recipe asks for. Pure text rewrites, like the rest of the engine.

use super::*;

/// Turns `option(NAME "help" OFF)` in cmake/defs.cmake into `... ON)`.
pub fn convert_cmake_defs(label: &str, text: &str, option: &str) -> Result<Edit> {
    let decls: Vec<_> = cmake::options(text)
        .into_iter()
        .filter(|d| d.name == option)
        .collect();
    match decls.len() {
        0 => bail!("{label}: declares no option({option} ...) (nothing was changed)"),
        1 => {}
        n => bail!(
            "{label}:{}: option({option}) is declared {n} times; kmemdbg cannot tell which one CMake \
             uses; keep one and run again (nothing was changed)",
            decls[1].line + 1
        ),
    }
    let d = &decls[0];
    let Some(close) = d.close else {
        bail!(
            "{label}:{}: option({option} ...) spans several lines; set its default to ON by hand \
             (nothing was changed)",
            d.line + 1
        );
    };
    let mut lines = split_keep(text);
    let Some(line) = lines.get_mut(d.line) else {
        bail!("{label}:{}: unexpected end of file", d.line + 1);
    };
    let before = line.trim_end().to_string();
    match d.value {
        Some((s, e)) if cmake::truthy(&line[s..e]) => {
            return Ok(Edit {
                text: text.to_string(),
                notes: vec![],
            })
        }
        Some((s, e)) => line.replace_range(s..e, "ON"),
        None => line.insert_str(close, " ON"),
    }
    let note = format!(
        "{label}:{}: `{}` -> `{}`",
        d.line + 1,
        before.trim(),
        line.trim_end().trim()
    );
    Ok(Edit {
        text: lines.concat(),
        notes: vec![note],
    })
}

/// Turns `NAME:BOOL=OFF` in a CMakeCache.txt into `NAME:BOOL=ON` (the
/// cache wins over the default in cmake/defs.cmake). No entry: nothing to
/// do, the next configure takes the default.
pub fn convert_cmake_cache(label: &str, text: &str, option: &str) -> Result<Edit> {
    let entries: Vec<_> = cmake::cache_entries(text)
        .into_iter()
        .filter(|e| e.name == option)
        .collect();
    if entries.len() > 1 {
        bail!(
            "{label}:{}: {option} has {} entries; kmemdbg cannot tell which one CMake uses; \
             reconfigure with -D{option}=ON instead (nothing was changed)",
            entries[1].line + 1,
            entries.len()
        );
    }
    let Some(e) = entries.first() else {
        return Ok(Edit {
            text: text.to_string(),
            notes: vec![],
        });
    };
    if cmake::truthy(&e.value) {
        return Ok(Edit {
            text: text.to_string(),
            notes: vec![],
        });
    }
    let mut lines = split_keep(text);
    let Some(line) = lines.get_mut(e.line) else {
        bail!("{label}:{}: unexpected end of file", e.line + 1);
    };
    let before = line.trim_end().to_string();
    let end = e.value_start + e.value.len();
    line.replace_range(e.value_start..end, "ON");
    let note = format!(
        "{label}:{}: `{before}` -> `{}`",
        e.line + 1,
        line.trim_end()
    );
    Ok(Edit {
        text: lines.concat(),
        notes: vec![note],
    })
}

/// The CMake option this tree uses: the recipe's name for the version,
/// or, when the tree declares only another of the recipe's names, that one.
pub fn cmake_option_for(
    r: &Recipe,
    version: Option<&crate::probe::Version>,
    declared: &[String],
) -> Result<(String, Option<String>)> {
    let by_version = version.and_then(|v| r.cmake_option.iter().find(|o| o.versions.contains(v)));
    if let Some(o) = by_version {
        if declared.contains(&o.name) {
            return Ok((o.name.clone(), None));
        }
    }
    if let Some(o) = r.cmake_option.iter().find(|o| declared.contains(&o.name)) {
        let note = by_version.map(|b| {
            format!(
                "version {} would use option {}, but cmake/defs.cmake declares {}: using {}",
                version.map(|v| v.to_string()).unwrap_or_default(),
                b.name,
                o.name,
                o.name
            )
        });
        return Ok((o.name.clone(), note));
    }
    let names: Vec<&str> = r.cmake_option.iter().map(|o| o.name.as_str()).collect();
    bail!(
        "cmake/defs.cmake declares none of the options {} ({}): this is not the layout the {} recipe \
         knows (nothing was changed)",
        names.join(", "),
        r.title,
        r.name
    )
}
