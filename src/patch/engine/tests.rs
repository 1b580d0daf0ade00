//! Tests of the recipe engine on the files of each generation.

use super::*;

use crate::patch::recipe;
use proptest::prelude::*;

fn recipe(name: &str) -> Recipe {
    recipe::all()
        .unwrap()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap()
}

/// The active words of every C_DEFS/DEFS list, in file order.
fn defines(text: &str) -> Vec<String> {
    let mk = makefile::parse("t", text).unwrap();
    mk.statements
        .iter()
        .filter_map(|s| match &s.kind {
            makefile::Kind::Assign(a) if a.name == "DEFS" || a.name == "C_DEFS" => Some(a),
            _ => None,
        })
        .flat_map(|a| a.tokens.iter().map(|t| t.text.clone()))
        .collect()
}

const SER: &str = "ifeq ($(makefile_defs), 1)\nelse\nmakefile_defs=1\nMAIN_NAME=ser\n\
DEFS+= $(extra_defs) \\\n\
\t -DPKG_MALLOC \\\n\
\t -DUSE_TCP \\\n\
\t -DF_MALLOC \\\n\
\t -DAFTER \\\n\
\t #-DDBG_QM_MALLOC \\\n\
\t #-DDBG_F_MALLOC \\\n\
\t #-DNO_LOG\n\
\n\
DEFS_RM+= -DDBG_QM_MALLOC -DUSE_X\n\
endif\n";

#[test]
fn define_list_swaps_the_allocator_in_place() {
    let r = recipe("openser-ser");
    let e = convert_defs("Makefile.defs", SER, &r).unwrap();
    assert!(
        e.text.contains("\t -DDBG_QM_MALLOC \\\n\t -DAFTER \\\n"),
        "{}",
        e.text
    );
    assert_eq!(
        defines(&e.text),
        [
            "$(extra_defs)",
            "-DPKG_MALLOC",
            "-DUSE_TCP",
            "-DDBG_QM_MALLOC",
            "-DAFTER"
        ]
    );
    // DEFS_RM no longer filters the debug define out.
    assert!(e.text.contains("DEFS_RM+= -DUSE_X\n"), "{}", e.text);
    assert_eq!(e.notes.len(), 2, "{:?}", e.notes);
    assert!(e.notes[0].starts_with("Makefile.defs:8: `-DF_MALLOC` -> `-DDBG_QM_MALLOC`"));
    // Idempotent.
    let again = convert_defs("Makefile.defs", &e.text, &r).unwrap();
    assert_eq!(again.text, e.text);
    assert!(again.notes.is_empty());
}

#[test]
fn last_line_of_a_list_keeps_the_list_closed() {
    // SER 2.0: -DF_MALLOC is the last word, without a backslash, and
    // -DDBG_F_MALLOC on the line before goes away.
    let text = "DEFS+= -DA \\\n\t -DDBG_F_MALLOC \\\n\t -DF_MALLOC\n\t #-DDBG_QM_MALLOC \\\n\t #-DX\nNEXT = 1\n";
    let r = recipe("openser-ser");
    let e = convert_defs("M", text, &r).unwrap();
    assert_eq!(defines(&e.text), ["-DA", "-DDBG_QM_MALLOC"]);
    let mk = makefile::parse("M", &e.text).unwrap();
    assert_eq!(mk.first_value("NEXT").as_deref(), Some("1"), "{}", e.text);
    // Removing the last line itself closes the line before.
    let text = "DEFS+= -DA \\\n\t -DDBG_QM_MALLOC \\\n\t -DDBG_F_MALLOC\nNEXT = 1\n";
    let e = convert_defs("M", text, &r).unwrap();
    assert_eq!(e.text, "DEFS+= -DA \\\n\t -DDBG_QM_MALLOC\nNEXT = 1\n");
}

#[test]
fn two_words_on_one_line() {
    let text = "C_DEFS= -DA -DF_MALLOC -DDBG_F_MALLOC -DB \\\n\t-DC\n";
    let e = convert_defs("M", text, &recipe("openser-ser")).unwrap();
    assert_eq!(e.text, "C_DEFS= -DA -DDBG_QM_MALLOC -DB \\\n\t-DC\n");
}

#[test]
fn allocator_twice_is_ambiguous() {
    let text = SER.replace("\t -DAFTER \\\n", "\t -DF_MALLOC \\\n");
    let err = convert_defs("Makefile.defs", &text, &recipe("openser-ser"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("Makefile.defs:9: `-DF_MALLOC` appears 2 times (lines 8, 9)"),
        "{err}"
    );
}

#[test]
fn allocator_in_unknown_conditional_is_refused() {
    let text = "ifeq ($(PACKAGER), 1)\nDEFS+= -DF_MALLOC\nendif\n";
    let err = convert_defs("Makefile.defs", text, &recipe("openser-ser"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("Makefile.defs:2:") && err.contains("ifeq ($(PACKAGER), 1)"),
        "{err}"
    );
}

const K5: &str =
    "ifeq ($(makefile_defs),1)\nelse\nifeq (,$(main_makefile))\ninclude config.mak\nelse\n\
VERSION = 5\nPATCHLEVEL = 6\nSUBLEVEL = 3\n\
MEMMNG ?= 0\n\
MEMDBG ?= 0 # packager: no debug\n\
C_DEFS= $(extra_defs) -DNAME='\"x\"'\n\
C_DEFS+= -DF_MALLOC\n\
ifeq \t($(MEMDBG), 1)\n\
\tC_DEFS+= -DDBG_SR_MEMORY\n\
endif\n\
endif\nendif\n";

#[test]
fn memdbg_switch_is_set_keeping_comment_and_operator() {
    let r = recipe("5.x-6.x-make");
    let e = convert_defs("src/Makefile.defs", K5, &r).unwrap();
    assert!(
        e.text.contains("MEMDBG ?= 1 # packager: no debug\n"),
        "{}",
        e.text
    );
    assert_eq!(
        e.notes,
        ["src/Makefile.defs:10: `MEMDBG ?= 0` -> `MEMDBG ?= 1`"]
    );
    assert_eq!(
        convert_defs("src/Makefile.defs", &e.text, &r).unwrap().text,
        e.text
    );
}

#[test]
fn memdbg_twice_or_in_unknown_conditional_is_refused() {
    let r = recipe("5.x-6.x-make");
    let twice = K5.replace("C_DEFS+= -DF_MALLOC\n", "C_DEFS+= -DF_MALLOC\nMEMDBG = 0\n");
    let err = convert_defs("src/Makefile.defs", &twice, &r)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("src/Makefile.defs:13: MEMDBG is set 2 times (lines 10, 13)"),
        "{err}"
    );
    let cond = K5.replace(
        "MEMDBG ?= 0 # packager: no debug\n",
        "ifeq ($(OS),linux)\nMEMDBG ?= 0\nendif\n",
    );
    let err = convert_defs("src/Makefile.defs", &cond, &r)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "src/Makefile.defs:11: MEMDBG is set inside `ifeq ($(OS),linux)` (line 10)"
        ),
        "{err}"
    );
}

#[test]
fn wrong_layout_is_named() {
    let no_switch = K5.replace("\tC_DEFS+= -DDBG_SR_MEMORY\n", "\tC_DEFS+= -DOTHER\n");
    let err = convert_defs("src/Makefile.defs", &no_switch, &recipe("5.x-6.x-make"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no `-DDBG_SR_MEMORY` under a conditional on MEMDBG"),
        "{err}"
    );
}

#[test]
fn stray_allocator_outside_the_switch_is_refused() {
    let text = "MEMDBG ?= 0\nC_DEFS= -DA\nC_DEFS+= -DF_MALLOC\nifeq ($(MEMDBG), 1)\n\tC_DEFS+= -DDBG_QM_MALLOC\nelse\n\tC_DEFS+= -DF_MALLOC\nendif\n";
    let err = convert_defs("Makefile.defs", text, &recipe("3.x"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("Makefile.defs:3: `-DF_MALLOC` is set outside the MEMDBG switch"),
        "{err}"
    );
}

#[test]
fn generation_4_sets_both_switches() {
    let text = "MEMMNG ?= 0\nMEMDBG ?= 0\nifeq ($(MEMMNG), 1)\nifeq \t($(MEMDBG), 1)\n\t\tC_DEFS+= -DDBG_QM_MALLOC\nendif\nelse\n\tC_DEFS+= -DF_MALLOC\nendif\n";
    let e = convert_defs("Makefile.defs", text, &recipe("4.0-4.3")).unwrap();
    assert!(
        e.text.starts_with("MEMMNG ?= 1\nMEMDBG ?= 1\n"),
        "{}",
        e.text
    );
    assert_eq!(e.notes.len(), 2);
}

#[test]
fn config_mak_cache_is_rewritten() {
    let cfg = "# this file is autogenerated by make cfg\nMAIN_NAME= kamailio\n\
C_DEFS=   -DNAME='\"kamailio\"' -DF_MALLOC -DQ_MALLOC -DUSE_FUTEX\n\
DEFS_RM= -DDBG_SR_MEMORY\nPREFIX= /usr\n\
C_DEFS:=$(filter-out $(DEFS_RM) $(extra_defs),$(C_DEFS)) $(extra_defs)\n";
    let e = convert_config_mak("src/config.mak", cfg, &recipe("5.x-6.x-make")).unwrap();
    assert!(
        e.text.contains("-DQ_MALLOC -DUSE_FUTEX -DDBG_SR_MEMORY\n"),
        "{}",
        e.text
    );
    assert!(e.text.contains("\nDEFS_RM=\nPREFIX= /usr\n"), "{}", e.text);
    assert!(
        e.text.contains("-DF_MALLOC"),
        "4.4+ keeps f_malloc compiled in"
    );
    let old = convert_config_mak("config.mak", cfg, &recipe("3.x")).unwrap();
    assert!(
        old.text
            .contains("-DNAME='\"kamailio\"' -DQ_MALLOC -DUSE_FUTEX -DDBG_QM_MALLOC\n"),
        "{}",
        old.text
    );
    assert_eq!(
        convert_config_mak("c", &e.text, &recipe("5.x-6.x-make"))
            .unwrap()
            .text,
        e.text
    );
    assert!(convert_config_mak("c", "X=1\n", &recipe("3.x")).is_err());
}

#[test]
fn vars_file_overrides_are_fixed() {
    let vars = "MEMDBG = 0\nextra_defs += -UDBG_SR_MEMORY -DKEEP\n";
    let e = convert_vars("src/Makefile.vars", vars, &recipe("5.x-6.x-make")).unwrap();
    assert_eq!(e.text, "MEMDBG = 1\nextra_defs += -DKEEP\n");
}

#[test]
fn define_added_when_no_allocator_is_named() {
    let text = "DEFS+= $(extra_defs) \\\n\t -DA \\\n\t -DB\n";
    let e = convert_defs("M", text, &recipe("openser-ser")).unwrap();
    assert_eq!(
        e.text,
        "DEFS+= $(extra_defs) \\\n\t -DDBG_QM_MALLOC \\\n\t -DA \\\n\t -DB\n"
    );
    let e = convert_defs("M", "DEFS= -DA\n", &recipe("openser-ser")).unwrap();
    assert_eq!(e.text, "DEFS= -DA -DDBG_QM_MALLOC\n");
}

#[test]
fn cmake_option_and_cache() {
    let defs = "option(MALLOC_STATS \"Use malloc stats\" ON)\noption(DBG_SR_MEMORY \"Use memory debugging system\" OFF)\n";
    let e = convert_cmake_defs("cmake/defs.cmake", defs, "DBG_SR_MEMORY").unwrap();
    assert!(e
        .text
        .ends_with("option(DBG_SR_MEMORY \"Use memory debugging system\" ON)\n"));
    assert_eq!(
        convert_cmake_defs("c", &e.text, "DBG_SR_MEMORY")
            .unwrap()
            .text,
        e.text
    );
    let bare = convert_cmake_defs("c", "option(MEMDBG \"x\")\n", "MEMDBG").unwrap();
    assert_eq!(bare.text, "option(MEMDBG \"x\" ON)\n");
    let cache = "//Use memory debugging system\nDBG_SR_MEMORY:BOOL=OFF\nX:BOOL=OFF\n";
    let e = convert_cmake_cache("build/CMakeCache.txt", cache, "DBG_SR_MEMORY").unwrap();
    assert_eq!(
        e.text,
        "//Use memory debugging system\nDBG_SR_MEMORY:BOOL=ON\nX:BOOL=OFF\n"
    );
    let twice = format!("{cache}DBG_SR_MEMORY:BOOL=OFF\n");
    assert!(convert_cmake_cache("b", &twice, "DBG_SR_MEMORY")
        .unwrap_err()
        .to_string()
        .starts_with("b:4:"));
}

#[test]
fn cmake_option_follows_declaration() {
    let r = recipe("6.x-cmake");
    let v = crate::probe::Version::parse("6.0.1").unwrap();
    let (o, note) = cmake_option_for(&r, Some(&v), &["DBG_SR_MEMORY".into()]).unwrap();
    assert_eq!((o.as_str(), note), ("DBG_SR_MEMORY", None));
    let (o, note) = cmake_option_for(&r, Some(&v), &["MEMDBG".into()]).unwrap();
    assert_eq!(o, "MEMDBG");
    assert!(note.is_some());
    assert!(cmake_option_for(&r, Some(&v), &["OTHER".into()]).is_err());
}

/// A define list: random words, random line breaks, the allocator
/// somewhere, optional commented tail.
fn define_list() -> impl Strategy<Value = (String, Vec<String>)> {
    (
        proptest::collection::vec("-D[A-Z]{1,6}", 1..12),
        any::<proptest::sample::Index>(),
        proptest::collection::vec(any::<bool>(), 12),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(mut words, at, breaks, tail, dbgf)| {
            let pos = at.index(words.len() + 1);
            words.insert(pos, "-DF_MALLOC".into());
            if dbgf {
                words.push("-DDBG_F_MALLOC".into());
            }
            let mut text = String::from("DEFS+=");
            for (i, w) in words.iter().enumerate() {
                if breaks[i % breaks.len()] || i == 0 {
                    text.push_str(" \\\n\t ");
                } else {
                    text.push(' ');
                }
                text.push_str(w);
            }
            if tail {
                text.push_str(" \\\n\t #-DDBG_QM_MALLOC \\\n\t #-DX");
            }
            text.push_str("\nAFTER = 1\n");
            (text, words)
        })
}

proptest! {
    #[test]
    fn define_list_rewrite_keeps_every_other_word_and_continuation((text, words) in define_list()) {
        let r = recipe("openser-ser");
        let e = convert_defs("M", &text, &r).unwrap();
        let mut want: Vec<String> = Vec::new();
        for w in &words {
            match w.as_str() {
                "-DF_MALLOC" => want.push("-DDBG_QM_MALLOC".into()),
                "-DDBG_F_MALLOC" => {}
                _ => want.push(w.clone()),
            }
        }
        prop_assert_eq!(defines(&e.text), want);
        let mk = makefile::parse("M", &e.text).unwrap();
        let after = mk.first_value("AFTER");
        prop_assert_eq!(after.as_deref(), Some("1"));
        let again = convert_defs("M", &e.text, &r).unwrap();
        prop_assert_eq!(again.text, e.text);
    }

    #[test]
    fn engine_never_panics(text in "(MEMDBG \\?= 0\n|C_DEFS\\+= -DF_MALLOC \\\\\n|ifeq \\(\\$\\(MEMDBG\\), 1\\)\n|endif\n|else\n|\t -DDBG_SR_MEMORY\n|#\\\\\n|[ -~]{0,12}\n){0,20}") {
        for r in recipe::all().unwrap() {
            let _ = convert_defs("f", &text, &r);
            let _ = convert_vars("f", &text, &r);
            let _ = convert_config_mak("f", &text, &r);
        }
        let _ = convert_cmake_defs("f", &text, "MEMDBG");
        let _ = convert_cmake_cache("f", &text, "MEMDBG");
    }
}
