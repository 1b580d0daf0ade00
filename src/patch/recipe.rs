//! The recipes: one TOML file per Kamailio build generation under
//! `patches/`, embedded in the binary. A recipe says which trees it fits
//! (build system, version range, the shape it expects) and what a
//! memory-debug build means there (variables to set, words to swap in a
//! define list, the CMake option to turn on, and which defines the
//! effective `C_DEFS` must and must not hold).
//!
//! Adding a generation is one file here plus one fixture under
//! `tests/fixtures/patch/NAME/`; the tests enumerate [`all`]. This module
//! only parses data; it never touches a file (see `patch::engine`).

use crate::source::BuildSystem;
use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The embedded recipe files, in the order they are tried.
pub const FILES: &[(&str, &str)] = &[
    (
        "openser-ser.toml",
        include_str!("../../patches/openser-ser.toml"),
    ),
    ("3.x.toml", include_str!("../../patches/3.x.toml")),
    ("4.0-4.3.toml", include_str!("../../patches/4.0-4.3.toml")),
    ("4.4.toml", include_str!("../../patches/4.4.toml")),
    (
        "5.x-6.x-make.toml",
        include_str!("../../patches/5.x-6.x-make.toml"),
    ),
    (
        "6.x-cmake.toml",
        include_str!("../../patches/6.x-cmake.toml"),
    ),
];

/// An inclusive range of versions, written `"5.0 - 6.99"`. Each bound
/// compares only the components it gives: `6.99` admits 6.1.4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange {
    pub from: Vec<u32>,
    pub to: Vec<u32>,
    pub text: String,
}

impl VersionRange {
    pub fn parse(s: &str) -> Result<VersionRange> {
        let (a, b) = s
            .split_once(" - ")
            .with_context(|| format!("version range {s:?}: expected \"FROM - TO\""))?;
        let nums = |x: &str| -> Result<Vec<u32>> {
            let v: Vec<u32> = x
                .trim()
                .split('.')
                .map(|p| p.parse::<u32>())
                .collect::<std::result::Result<_, _>>()
                .with_context(|| format!("version range {s:?}: {x:?} is not like 5.6 or 6.0.4"))?;
            if v.is_empty() || v.len() > 3 {
                bail!("version range {s:?}: {x:?} is not like 5.6 or 6.0.4");
            }
            Ok(v)
        };
        let r = VersionRange {
            from: nums(a)?,
            to: nums(b)?,
            text: s.to_string(),
        };
        Ok(r)
    }

    pub fn contains(&self, v: &crate::probe::Version) -> bool {
        let have = [v.major, v.minor, v.patch];
        let lo = &have[..self.from.len()];
        let hi = &have[..self.to.len()];
        lo >= self.from.as_slice() && hi <= self.to.as_slice()
    }

    /// True when the two ranges share a version.
    pub fn overlaps(&self, other: &VersionRange) -> bool {
        let pad = |v: &[u32], fill: u32| -> [u32; 3] {
            let mut a = [fill; 3];
            a[..v.len()].copy_from_slice(v);
            a
        };
        let (a0, a1) = (pad(&self.from, 0), pad(&self.to, u32::MAX));
        let (b0, b1) = (pad(&other.from, 0), pad(&other.to, u32::MAX));
        a0 <= b1 && b0 <= a1
    }
}

impl<'de> Deserialize<'de> for VersionRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        VersionRange::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `[[set]]`: a make variable that must have this value (`MEMDBG ?= 1`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetVar {
    pub variable: String,
    pub value: String,
}

/// `[define_list]`: words swapped in the define list itself (pre-3.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefineList {
    /// The list variables (`DEFS`, `C_DEFS`).
    pub variables: Vec<String>,
    /// Words to take out; the first one found is replaced by `add`.
    pub remove: Vec<String>,
    pub add: String,
}

/// `[[expect]]` / `[[confine]]`: a define and the make variables the
/// conditionals around it must test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guarded {
    pub define: String,
    pub under: Vec<String>,
}

/// `[defines]`: what the effective `C_DEFS` must hold after conversion.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defines {
    pub present: Vec<String>,
    #[serde(default)]
    pub absent: Vec<String>,
}

/// `[[cmake_option]]`: the option that switches memory debugging on, by version.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CMakeOption {
    pub name: String,
    pub versions: VersionRange,
}

/// One generation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub name: String,
    pub title: String,
    pub build: BuildSystem,
    pub versions: VersionRange,
    /// The flag `kamailio -V` shows once the build is converted.
    pub debug_flag: String,
    #[serde(default)]
    pub runtime_options: Vec<String>,
    pub runtime_note: String,
    /// make: path of Makefile.defs in the tree.
    pub defs: Option<String>,
    /// make: variables whose conditionals wrap the whole file (include guards).
    #[serde(default)]
    pub known_guards: Vec<String>,
    #[serde(default)]
    pub set: Vec<SetVar>,
    pub define_list: Option<DefineList>,
    #[serde(default)]
    pub expect: Vec<Guarded>,
    #[serde(default)]
    pub confine: Vec<Guarded>,
    pub defines: Option<Defines>,
    #[serde(default)]
    pub cmake_option: Vec<CMakeOption>,
}

impl Recipe {
    /// Parses and checks one recipe file.
    pub fn parse(file: &str, text: &str) -> Result<Recipe> {
        let r: Recipe =
            toml::from_str(text).with_context(|| format!("patches/{file}: not a valid recipe"))?;
        let bad = |what: &str| -> Result<Recipe> { bail!("patches/{file}: {what}") };
        match r.build {
            BuildSystem::Make => {
                if r.defs.is_none() {
                    return bad("a make recipe needs `defs`");
                }
                if r.set.is_empty() && r.define_list.is_none() {
                    return bad("a make recipe needs [[set]] or [define_list]");
                }
                match &r.defines {
                    Some(d) if !d.present.is_empty() => {}
                    _ => return bad("a make recipe needs [defines] with `present`"),
                }
                if !r.cmake_option.is_empty() {
                    return bad("a make recipe has no [[cmake_option]]");
                }
            }
            BuildSystem::Cmake => {
                if r.cmake_option.is_empty() {
                    return bad("a cmake recipe needs [[cmake_option]]");
                }
                if r.defs.is_some() || !r.set.is_empty() || r.define_list.is_some() {
                    return bad("a cmake recipe has no make fields (defs, set, define_list)");
                }
            }
        }
        Ok(r)
    }

    /// The defines to watch in `C_DEFS` (empty for CMake).
    pub fn defines(&self) -> Defines {
        self.defines.clone().unwrap_or_default()
    }

    /// The list variables whose words the recipe looks at.
    pub fn list_variables(&self) -> Vec<String> {
        match &self.define_list {
            Some(d) => d.variables.clone(),
            None => vec!["C_DEFS".into(), "DEFS".into()],
        }
    }
}

/// Every embedded recipe, parsed.
pub fn all() -> Result<Vec<Recipe>> {
    FILES.iter().map(|(f, t)| Recipe::parse(f, t)).collect()
}

/// The names of all recipes, for messages.
pub fn names() -> Vec<String> {
    all()
        .map(|v| v.into_iter().map(|r| r.name).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Version;

    #[test]
    fn every_file_parses_and_names_itself() {
        let rs = all().unwrap();
        assert_eq!(rs.len(), FILES.len());
        for (r, (file, _)) in rs.iter().zip(FILES) {
            assert_eq!(format!("{}.toml", r.name), *file);
        }
    }

    #[test]
    fn every_recipe_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/patches");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(f, _)| f.to_string()).collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "add the new patches/*.toml to recipe::FILES"
        );
    }

    #[test]
    fn ranges_of_one_build_system_do_not_overlap() {
        let rs = all().unwrap();
        for (i, a) in rs.iter().enumerate() {
            for b in &rs[i + 1..] {
                if a.build == b.build {
                    assert!(
                        !a.versions.overlaps(&b.versions),
                        "{} and {} overlap",
                        a.name,
                        b.name
                    );
                }
            }
        }
    }

    #[test]
    fn version_ranges() {
        let r = VersionRange::parse("5.0 - 6.99").unwrap();
        let v = |s| Version::parse(s).unwrap();
        assert!(r.contains(&v("5.0.0")) && r.contains(&v("6.1.4")) && r.contains(&v("5.6.3")));
        assert!(!r.contains(&v("4.4.7")) && !r.contains(&v("7.0.0")));
        let r = VersionRange::parse("6.0.0 - 6.0.3").unwrap();
        assert!(r.contains(&v("6.0.3")) && !r.contains(&v("6.0.4")));
        assert!(VersionRange::parse("5.x - 6").is_err());
        assert!(VersionRange::parse("5.0").is_err());
    }

    #[test]
    fn cmake_option_names_follow_the_version() {
        let rs = all().unwrap();
        let c = rs.iter().find(|r| r.build == BuildSystem::Cmake).unwrap();
        let pick = |s: &str| {
            let v = Version::parse(s).unwrap();
            c.cmake_option
                .iter()
                .find(|o| o.versions.contains(&v))
                .map(|o| o.name.clone())
        };
        assert_eq!(pick("6.0.1").as_deref(), Some("DBG_SR_MEMORY"));
        assert_eq!(pick("6.0.3").as_deref(), Some("DBG_SR_MEMORY"));
        assert_eq!(pick("6.0.4").as_deref(), Some("MEMDBG"));
        assert_eq!(pick("6.1.0").as_deref(), Some("MEMDBG"));
    }
}
