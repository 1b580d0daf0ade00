//! Tests of the cfg reader on real cfg text and fuzzed input.

use super::*;

fn load(files: &[(&str, &str)]) -> MapLoader {
    MapLoader {
        files: files
            .iter()
            .map(|(p, t)| (normalize(Path::new(p)), t.as_bytes().to_vec()))
            .collect(),
    }
}

fn read_one(text: &str, defines: &[&str]) -> Result<Config> {
    let mut l = load(&[("/etc/k/kamailio.cfg", text)]);
    let defs: Vec<Define> = defines.iter().map(|d| Define::parse(d).unwrap()).collect();
    read(
        Path::new("/etc/k/kamailio.cfg"),
        &defs,
        Some((5, 6, 3)),
        &mut l,
    )
}

/// Lines 126-175 of Debian's 5.6.3 /etc/kamailio/kamailio.cfg, verbatim.
const DEBIAN: &str = r#"####### Include Local Config If Exists #########
import_file "kamailio-local.cfg"

####### Defined Values #########

# *** Value defines - IDs used later in config
#!ifdef WITH_DEBUG
#!define DBGLEVEL 3
#!else
#!define DBGLEVEL 2
#!endif

#!ifdef WITH_MYSQL
# - database URL - used to connect to database server by modules such
#       as: auth_db, acc, usrloc, a.s.o.
#!trydef DBURL "mysql://kamailio:kamailiorw@localhost/kamailio"
#!endif

#!ifdef WITH_MULTIDOMAIN
# - the value for 'use_domain' parameters
#!define MULTIDOMAIN 1
#!else
#!define MULTIDOMAIN 0
#!endif

# - flags
#   FLT_ - per transaction (message) flags
#!define FLT_ACC 1
#!define FLT_ACCMISSED 2
#!define FLT_ACCFAILED 3
#!define FLT_NATS 5

#	FLB_ - per branch flags
#!define FLB_NATB 6
#!define FLB_NATSIPPING 7

####### Global Parameters #########

/* LOG Levels: 3=DBG, 2=INFO, 1=NOTICE, 0=WARN, -1=ERR, ... */
debug=DBGLEVEL

/* set to 'yes' to print log messages to terminal or use '-E' cli option */
log_stderror=no

memdbg=5
memlog=5

log_facility=LOG_LOCAL0
log_prefix="{$mt $hdr(CSeq) $ci} "
"#;

#[test]
fn debian_default_values_and_lines() {
    let c = read_one(DEBIAN, &[]).unwrap();
    assert_eq!(c.value(Param::Debug), Value::Int(2));
    let d = c.in_effect(Param::Debug).unwrap();
    assert_eq!(d.line, 40);
    assert_eq!(d.written, "DBGLEVEL");
    assert_eq!(d.via[0].name, "DBGLEVEL");
    assert_eq!(d.via[0].origin, Origin::File { file: 0, line: 10 });
    assert_eq!(c.in_effect(Param::Memlog).unwrap().line, 46);
    assert_eq!(c.value(Param::Memlog), Value::Int(5));
    assert_eq!(c.value(Param::Memdbg), Value::Int(5));
    assert_eq!(c.value(Param::LogStderror), Value::Int(0));
    assert_eq!(
        c.value(Param::LogFacility),
        Value::Word("LOG_LOCAL0".into())
    );
    assert!(c.in_effect(Param::MemSummary).is_none());
    assert_eq!(c.value(Param::MemSummary), Value::Int(12));
    assert_eq!(c.value(Param::MemJoin), Value::Int(1));
    assert_eq!(c.includes.len(), 1);
    assert!(
        c.includes[0].target.is_none(),
        "import of a missing file is ignored"
    );

    let c = read_one(DEBIAN, &["WITH_DEBUG"]).unwrap();
    assert_eq!(c.value(Param::Debug), Value::Int(3));
    assert_eq!(
        c.in_effect(Param::Debug).unwrap().via[0].origin,
        Origin::File { file: 0, line: 8 }
    );
}

#[test]
fn nested_ifdefs_else_and_ifndef() {
    let text = "#!ifdef A\n#!ifndef B\ndebug=1\n#!else\ndebug=2\n#!endif\n#!else\n#!ifdef B\ndebug=3\n#!endif\ndebug=4\n#!endif\n";
    let v = |d: &[&str]| read_one(text, d).unwrap().value(Param::Debug);
    assert_eq!(v(&["A"]), Value::Int(1));
    assert_eq!(v(&["A", "B"]), Value::Int(2));
    assert_eq!(v(&["B"]), Value::Int(4), "last active assignment wins");
    assert_eq!(v(&[]), Value::Int(4));
    let c = read_one(text, &["B"]).unwrap();
    let s: Vec<usize> = c.settings.iter().map(|s| s.line).collect();
    assert_eq!(s, vec![9, 11]);
    assert_eq!(c.in_effect(Param::Debug).unwrap().frames.len(), 1);
}

#[test]
fn trydef_redefine_and_define_errors() {
    let c = read_one("#!define L 1\n#!trydef L 3\ndebug=L\n", &[]).unwrap();
    assert_eq!(c.value(Param::Debug), Value::Int(1));
    let c = read_one("#!define L 1\n#!redefine L 3\ndebug=L\n", &[]).unwrap();
    assert_eq!(c.value(Param::Debug), Value::Int(3));
    let e = read_one("#!define L 1\n#!define L 3\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/etc/k/kamailio.cfg:2: L is already defined (/etc/k/kamailio.cfg:1)"),
        "{e}"
    );
    let c = read_one("#!trydef L 3\ndebug=L\n", &["L=1"]).unwrap();
    assert_eq!(
        c.value(Param::Debug),
        Value::Int(1),
        "-A L=1 wins over #!trydef"
    );
    let c = read_one("#!define A B\n#!define B -1\nmemlog=A\n", &[]).unwrap();
    assert_eq!(c.value(Param::Memlog), Value::Int(-1));
    let s = c.in_effect(Param::Memlog).unwrap();
    assert_eq!(s.written, "A");
    assert_eq!(
        s.via.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["A", "B"]
    );
    let c = read_one("#!define LONG 1 + \\\n 2\n", &[]).unwrap();
    assert_eq!(c.defines["LONG"].0.as_deref(), Some("1 +  2"));
}

#[test]
fn undefined_macro_and_recursive_macro_are_errors() {
    let e = read_one("#!ifdef X\n#!define LVL 2\n#!endif\n\ndebug=LVL\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/etc/k/kamailio.cfg:5: debug=LVL: LVL is not #!define'd"),
        "{e}"
    );
    let e = read_one("#!define A B\n#!define B A\ndebug=A\n", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains(":3:") && e.contains("recursive"), "{e}");
}

#[test]
fn unbalanced_ifdefs_name_the_line() {
    let e = read_one("debug=2\n#!ifdef A\nmemlog=1\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/etc/k/kamailio.cfg:2: #!ifdef A is never closed"),
        "{e}"
    );
    let e = read_one("debug=2\n#!endif\n", &[]).unwrap_err().to_string();
    assert!(
        e.starts_with("/etc/k/kamailio.cfg:2: #!endif without"),
        "{e}"
    );
}

#[test]
fn comments_strings_and_pvars_hide_assignments() {
    let text = "/* debug=9 /* nested */ memlog=9 */\n# memlog=8\n// memlog=7\nlog_prefix=\"memlog=6 #!ifdef X\"\n\
                request_route {\n  $var(memlog) = 1;\n  memlog = 3;\n}\nmemlog = -1 # real\n";
    let c = read_one(text, &[]).unwrap();
    let m: Vec<_> = c
        .settings
        .iter()
        .filter(|s| s.param == Param::Memlog)
        .collect();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].value, Value::Int(-1));
    assert_eq!(m[0].line, 9);
    assert_eq!(m[0].written, "-1");
    assert!(c.in_effect(Param::Debug).is_none());
}

#[test]
fn directives_in_skipped_branches_and_comments() {
    // In a false branch /* is not a comment: #!endif inside it still closes.
    let c = read_one("#!ifdef NO\n/* #!endif\ndebug=3\n", &[]).unwrap();
    assert_eq!(c.value(Param::Debug), Value::Int(3));
    // In an active branch it is: that #!endif does not count.
    let c = read_one("#!ifdef YES\n/* #!endif */\ndebug=3\n#!endif\n", &["YES"]).unwrap();
    assert_eq!(c.value(Param::Debug), Value::Int(3));
    // In an active branch a commented directive does nothing.
    let c = read_one("/*\n#!define L 3\n*/\ndebug=1\n", &[]).unwrap();
    assert!(!c.defines.contains_key("L"));
    // `#!else` followed by text is a comment to Kamailio.
    let c = read_one("#!ifdef NO\ndebug=1\n#!else # x\ndebug=2\n#!endif\n", &[]).unwrap();
    assert!(c.in_effect(Param::Debug).is_none());
}

#[test]
fn numbers_and_words() {
    for (w, v) in [
        ("0x10", 16),
        ("010", 8),
        ("101b", 5),
        ("yes", 1),
        ("off", 0),
        ("7", 7),
    ] {
        let c = read_one(&format!("mem_join={w}\n"), &[]).unwrap();
        assert_eq!(c.value(Param::MemJoin), Value::Int(v), "{w}");
    }
    assert!(read_one("memlog=12abc\n", &[]).is_err());
    assert!(read_one("memlog=\"2\"\n", &[]).is_err());
    let c = read_one("mem_log = 2\nmem_dbg=\n  7\n", &[]).unwrap();
    assert_eq!(c.value(Param::Memlog), Value::Int(2));
    assert_eq!(c.value(Param::Memdbg), Value::Int(7));
    assert_eq!(c.in_effect(Param::Memdbg).unwrap().line, 2);
}

#[test]
fn includes_relative_nested_missing_and_loops() {
    let mut l = load(&[
        (
            "/etc/k/kamailio.cfg",
            "debug=2\ninclude_file \"sub/a.cfg\"\nmemlog=4\n",
        ),
        ("/etc/k/sub/a.cfg", "#!include_file \"b.cfg\"\n"),
        ("/etc/k/sub/b.cfg", "memdbg=9\nmemlog=1\n"),
    ]);
    let c = read(Path::new("/etc/k/kamailio.cfg"), &[], None, &mut l).unwrap();
    assert_eq!(c.files.len(), 3);
    let d = c.in_effect(Param::Memdbg).unwrap();
    assert_eq!(c.path(d.keyword.file), Path::new("/etc/k/sub/b.cfg"));
    assert_eq!(c.value(Param::Memlog), Value::Int(4));

    let mut l = load(&[(
        "/etc/k/kamailio.cfg",
        "debug=2\ninclude_file \"nope.cfg\"\n",
    )]);
    let e = read(Path::new("/etc/k/kamailio.cfg"), &[], None, &mut l)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "/etc/k/kamailio.cfg:2: include_file \"nope.cfg\": /etc/k/nope.cfg does not exist"
        ),
        "{e}"
    );

    let mut l = load(&[("/etc/k/kamailio.cfg", "import_file \"kamailio.cfg\"\n")]);
    let e = read(Path::new("/etc/k/kamailio.cfg"), &[], None, &mut l)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already being read (/etc/k/kamailio.cfg -> /etc/k/kamailio.cfg)"),
        "{e}"
    );

    let mut l = load(&[
        ("/etc/k/kamailio.cfg", "include_file \"a.cfg\"\n"),
        ("/etc/k/a.cfg", "include_file \"kamailio.cfg\"\n"),
    ]);
    let e = read(Path::new("/etc/k/kamailio.cfg"), &[], None, &mut l)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/etc/k/a.cfg:1:"), "{e}");
}

#[test]
fn ifdef_spanning_an_include_and_module_defines() {
    let mut l = load(&[
        ("/etc/k/kamailio.cfg", "#!ifdef X\ninclude_file \"a.cfg\"\ndebug=1\n#!endif\nloadmodule \"tm.so\"\n#!ifdef MOD_tm\nmemlog=1\n#!endif\n#!ifdef KAMAILIO_5_6\nmemdbg=6\n#!endif\n"),
        ("/etc/k/a.cfg", "debug=3\n#!else\ndebug=2\n"),
    ]);
    let c = read(
        Path::new("/etc/k/kamailio.cfg"),
        &[],
        Some((5, 6, 3)),
        &mut l,
    )
    .unwrap();
    assert_eq!(c.value(Param::Debug), Value::Int(0), "X undefined: nothing");
    assert!(c.includes.is_empty());
    assert_eq!(c.value(Param::Memlog), Value::Int(1));
    assert_eq!(c.value(Param::Memdbg), Value::Int(6));
    assert_eq!(c.loadmodules[0].name, "tm");
}

#[test]
fn substdef_defines_and_subst_renames_includes() {
    let mut l = load(&[
        ("/etc/k/kamailio.cfg", "#!substdef \"/LVL/3/\"\ndebug=LVL\n#!subst \"/LOCAL/local-5.6/\"\ninclude_file \"LOCAL.cfg\"\n"),
        ("/etc/k/local-5.6.cfg", "memlog=2\n"),
    ]);
    let c = read(Path::new("/etc/k/kamailio.cfg"), &[], None, &mut l).unwrap();
    assert_eq!(c.value(Param::Debug), Value::Int(3));
    assert_eq!(c.value(Param::Memlog), Value::Int(2));
}

#[test]
fn crlf_lines_and_garbage() {
    let c = read_one(
        "#!ifdef A\r\ndebug=1\r\n#!else\r\ndebug=2\r\n#!endif\r\nmemlog=5\r\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.value(Param::Debug), Value::Int(2));
    assert_eq!(c.in_effect(Param::Memlog).unwrap().written, "5");
    let mut l = MapLoader::default();
    l.files.insert(
        PathBuf::from("/x.cfg"),
        b"debug=2\n\x7fELF\x02\x01\x01\0\0\0".to_vec(),
    );
    let e = read(Path::new("/x.cfg"), &[], None, &mut l)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/x.cfg:2: contains a NUL byte"), "{e}");
}

#[test]
fn loadmodules_are_found_with_paths() {
    let c = read_one("loadmodule \"/usr/lib/kamailio/modules/ctl.so\"\nloadmodule 'cfg_rpc'\n#!ifdef NO\nloadmodule \"tls.so\"\n#!endif\n", &[]).unwrap();
    let names: Vec<_> = c.loadmodules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["ctl", "cfg_rpc"]);
    assert_eq!(c.loadmodules[1].quote, b'\'');
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let mut l = MapLoader::default();
        l.files.insert(PathBuf::from("/k.cfg"), bytes);
        let _ = read(Path::new("/k.cfg"), &[], Some((5, 6, 3)), &mut l);
    }

    #[test]
    fn never_panics_on_cfg_like_text(
        parts in proptest::collection::vec(proptest::prop_oneof![
            proptest::prelude::Just("#!ifdef A\n".to_string()),
            proptest::prelude::Just("#!ifndef B\n".to_string()),
            proptest::prelude::Just("#!else\n".to_string()),
            proptest::prelude::Just("#!endif\n".to_string()),
            proptest::prelude::Just("#!define L 2\n".to_string()),
            proptest::prelude::Just("#!redefine L -1\n".to_string()),
            proptest::prelude::Just("#!trydef M L\n".to_string()),
            proptest::prelude::Just("#!substdef \"/S/3/\"\n".to_string()),
            proptest::prelude::Just("#!subst \"/(a)/\\1b/g\"\n".to_string()),
            proptest::prelude::Just("include_file \"k.cfg\"\n".to_string()),
            proptest::prelude::Just("import_file \"x.cfg\"\n".to_string()),
            proptest::prelude::Just("debug=L\n".to_string()),
            proptest::prelude::Just("memlog = M\r\n".to_string()),
            proptest::prelude::Just("memdbg=-\n".to_string()),
            proptest::prelude::Just("/* ".to_string()),
            proptest::prelude::Just(" */".to_string()),
            proptest::prelude::Just("\"".to_string()),
            proptest::prelude::Just("$(x{".to_string()),
            proptest::prelude::Just("route { ".to_string()),
            proptest::prelude::Just("}".to_string()),
            proptest::prelude::Just("loadmodule \"ctl.so\"\n".to_string()),
            "[ -~\n]{0,12}",
        ], 0..30)
    ) {
        let text = parts.concat();
        let mut l = MapLoader::default();
        l.files.insert(PathBuf::from("/k.cfg"), text.clone().into_bytes());
        l.files.insert(PathBuf::from("/x.cfg"), text.into_bytes());
        let _ = read(Path::new("/k.cfg"), &[], None, &mut l);
    }
}
