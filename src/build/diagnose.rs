//! Reading a build log: the first error (file, line, message) and a hint
//! when the cause is known (a missing header names its `-dev` package, a
//! missing bison/flex names that package).
//!
//! Pure: log text in, [`FirstError`] out, no I/O, never panics on any input
//! (fuzzed below). The header -> package table is data, one row per library.

use regex::Regex;
use serde::Serialize;
use std::sync::OnceLock;

/// The first thing that went wrong in a build log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstError {
    /// The file as the compiler named it, made relative to the make
    /// directory when the log shows which module was compiling
    /// (`modules/tm/t_funcs.c`), else as printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub message: String,
    /// The log line number (1-based) where it was found.
    pub log_line: usize,
    /// What to do about it, when the cause is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl FirstError {
    /// `core/action.c:42: error: expected ';'` (or just the message).
    pub fn location(&self) -> String {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{f}:{l}"),
            (Some(f), None) => f.clone(),
            _ => String::new(),
        }
    }
}

/// Libraries whose headers modules include: (header path prefix, Debian, RPM).
const HEADER_PACKAGES: &[(&str, &str, &str)] = &[
    (
        "mysql/",
        "default-libmysqlclient-dev",
        "mariadb-connector-c-devel",
    ),
    (
        "mysql.h",
        "default-libmysqlclient-dev",
        "mariadb-connector-c-devel",
    ),
    ("libpq-fe.h", "libpq-dev", "libpq-devel"),
    ("postgresql/", "libpq-dev", "libpq-devel"),
    ("openssl/", "libssl-dev", "openssl-devel"),
    ("curl/", "libcurl4-openssl-dev", "libcurl-devel"),
    ("libxml/", "libxml2-dev", "libxml2-devel"),
    ("pcre2.h", "libpcre2-dev", "pcre2-devel"),
    ("pcre.h", "libpcre3-dev", "pcre-devel"),
    ("json-c/", "libjson-c-dev", "json-c-devel"),
    ("json.h", "libjson-c-dev", "json-c-devel"),
    ("jansson.h", "libjansson-dev", "jansson-devel"),
    ("hiredis/", "libhiredis-dev", "hiredis-devel"),
    ("sqlite3.h", "libsqlite3-dev", "sqlite-devel"),
    ("lua.h", "liblua5.1-0-dev", "lua-devel"),
    ("lauxlib.h", "liblua5.1-0-dev", "lua-devel"),
    ("Python.h", "python3-dev", "python3-devel"),
    ("EXTERN.h", "libperl-dev", "perl-devel"),
    ("ldap.h", "libldap2-dev", "openldap-devel"),
    ("radcli/", "libradcli-dev", "radcli-devel"),
    ("event2/", "libevent-dev", "libevent-devel"),
    ("ev.h", "libev-dev", "libev-devel"),
    ("netinet/sctp.h", "libsctp-dev", "lksctp-tools-devel"),
    ("uuid/", "uuid-dev", "libuuid-devel"),
    ("expat.h", "libexpat1-dev", "expat-devel"),
    ("unistr.h", "libunistring-dev", "libunistring-devel"),
    ("maxminddb.h", "libmaxminddb-dev", "libmaxminddb-devel"),
    ("mongoc", "libmongoc-dev", "mongo-c-driver-devel"),
    ("bson", "libbson-dev", "libbson-devel"),
    ("sql.h", "unixodbc-dev", "unixODBC-devel"),
    ("sqlext.h", "unixodbc-dev", "unixODBC-devel"),
    ("net-snmp/", "libsnmp-dev", "net-snmp-devel"),
    ("zlib.h", "zlib1g-dev", "zlib-devel"),
    ("gcrypt.h", "libgcrypt20-dev", "libgcrypt-devel"),
    ("systemd/", "libsystemd-dev", "systemd-devel"),
    ("amqp.h", "librabbitmq-dev", "librabbitmq-devel"),
    ("libmemcached/", "libmemcached-dev", "libmemcached-devel"),
    ("sys/epoll.h", "libc6-dev", "glibc-devel"),
    ("stdio.h", "libc6-dev", "glibc-devel"),
];

/// Libraries modules link (`-lNAME`): (name, Debian, RPM).
const LIB_PACKAGES: &[(&str, &str, &str)] = &[
    ("ssl", "libssl-dev", "openssl-devel"),
    ("crypto", "libssl-dev", "openssl-devel"),
    (
        "mysqlclient",
        "default-libmysqlclient-dev",
        "mariadb-connector-c-devel",
    ),
    ("mariadb", "libmariadb-dev", "mariadb-connector-c-devel"),
    ("pq", "libpq-dev", "libpq-devel"),
    ("curl", "libcurl4-openssl-dev", "libcurl-devel"),
    ("xml2", "libxml2-dev", "libxml2-devel"),
    ("pcre", "libpcre3-dev", "pcre-devel"),
    ("pcre2-8", "libpcre2-dev", "pcre2-devel"),
    ("json-c", "libjson-c-dev", "json-c-devel"),
    ("jansson", "libjansson-dev", "jansson-devel"),
    ("hiredis", "libhiredis-dev", "hiredis-devel"),
    ("sqlite3", "libsqlite3-dev", "sqlite-devel"),
    ("ldap", "libldap2-dev", "openldap-devel"),
    ("radcli", "libradcli-dev", "radcli-devel"),
    ("event", "libevent-dev", "libevent-devel"),
    ("sctp", "libsctp-dev", "lksctp-tools-devel"),
    ("uuid", "uuid-dev", "libuuid-devel"),
    ("expat", "libexpat1-dev", "expat-devel"),
    ("unistring", "libunistring-dev", "libunistring-devel"),
    ("maxminddb", "libmaxminddb-dev", "libmaxminddb-devel"),
    ("odbc", "unixodbc-dev", "unixODBC-devel"),
    ("z", "zlib1g-dev", "zlib-devel"),
    ("gcrypt", "libgcrypt20-dev", "libgcrypt-devel"),
    ("systemd", "libsystemd-dev", "systemd-devel"),
    ("rabbitmq", "librabbitmq-dev", "librabbitmq-devel"),
    ("memcached", "libmemcached-dev", "libmemcached-devel"),
    ("readline", "libreadline-dev", "readline-devel"),
];

/// Programs the build calls: (name, Debian, RPM).
const PROGRAM_PACKAGES: &[(&str, &str, &str)] = &[
    ("bison", "bison", "bison"),
    ("yacc", "bison", "bison"),
    ("flex", "flex", "flex"),
    ("lex", "flex", "flex"),
    ("gcc", "gcc", "gcc"),
    ("cc", "gcc", "gcc"),
    ("make", "make", "make"),
    ("pkg-config", "pkg-config", "pkgconf-pkg-config"),
    ("cmake", "cmake", "cmake"),
    ("xsltproc", "xsltproc", "libxslt"),
];

struct Patterns {
    compiler: Regex,
    missing_header: Regex,
    missing_program: Regex,
    missing_lib: Regex,
    pkg_config: Regex,
    cmake_error: Regex,
    make_error: Regex,
    undefined_ref: Regex,
    cc_line: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        compiler: Regex::new(
            r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+):(?:\d+:)?\s*(?:fatal )?error:\s*(?P<msg>.*)$",
        )
        .expect("regex"),
        missing_header: Regex::new(r"(?:fatal )?error:\s*(?P<hdr>[^:\s]+): No such file or directory")
            .expect("regex"),
        missing_program: Regex::new(
            r"(?:^|\s|:)(?P<prog>[A-Za-z0-9_.+-]+): (?:command not found|not found|No such file or directory|Command not found)\s*$",
        )
        .expect("regex"),
        missing_lib: Regex::new(r"cannot find -l(?P<lib>[A-Za-z0-9_.+-]+)").expect("regex"),
        pkg_config: Regex::new(r"Package '?(?P<pkg>[A-Za-z0-9_.+-]+)'?,? (?:was not found|not found)")
            .expect("regex"),
        cmake_error: Regex::new(r"^CMake Error(?: at (?P<file>[^:]+):(?P<line>\d+))?").expect("regex"),
        make_error: Regex::new(r"^g?make(?:\[\d+\])?: \*\*\* (?P<msg>.*)$").expect("regex"),
        undefined_ref: Regex::new(r"undefined reference to").expect("regex"),
        cc_line: Regex::new(r"^CC \([^)]*\) \[(?P<kind>[MLU]) (?P<name>[^\]\s]+)\]\s+(?P<obj>\S+)")
            .expect("regex"),
    })
}

/// The directory (relative to the make directory) a quiet-mode compile
/// line belongs to: `[M tm.so]` -> `modules/tm`, `[L libsrdb1.so.1.0]` -> `lib/srdb1`.
fn component_dir(kind: &str, name: &str) -> Option<String> {
    match kind {
        "M" => Some(format!("modules/{}", name.trim_end_matches(".so"))),
        "L" => {
            let base = name.strip_prefix("lib")?;
            let base = base.split(".so").next()?;
            Some(format!("lib/{base}"))
        }
        _ => None,
    }
}

/// Finds the first error in a build log, or `None` when none is recognised.
/// A compiler (or CMake) error wins over everything else; then a missing
/// program or library the table knows; then any other error line; then
/// make's own `*** ...` line. Within a rank, the earliest line wins, so a
/// harmless `mysql_config: not found` printed by a module's Makefile does
/// not hide the real cause.
pub fn first_error(log: &str) -> Option<FirstError> {
    let p = patterns();
    // object file stem -> directory of the component that compiled it
    let mut seen_objects: Vec<(String, String)> = Vec::new();
    let mut cmake_pending: Option<(usize, Option<String>, Option<u32>)> = None;
    let mut best: Option<(u8, FirstError)> = None;
    let offer = |rank: u8, e: FirstError, best: &mut Option<(u8, FirstError)>| {
        if best.as_ref().map_or(true, |(r, _)| rank < *r) {
            *best = Some((rank, e));
        }
    };
    for (idx, raw) in log.lines().enumerate() {
        let line = raw.trim_end();
        if let Some(c) = p.cc_line.captures(line) {
            if let Some(dir) = component_dir(&c["kind"], &c["name"]) {
                let obj = c["obj"].trim_end_matches(".o").to_string();
                seen_objects.push((obj, dir));
            }
            continue;
        }
        if let Some((at, file, lnum)) = cmake_pending.take() {
            // CMake prints the message on the lines after "CMake Error at".
            let msg = line.trim();
            if msg.is_empty() {
                cmake_pending = Some((at, file, lnum));
            } else {
                let e = FirstError {
                    file,
                    line: lnum,
                    message: msg.to_string(),
                    log_line: at,
                    hint: hint_for(msg),
                };
                offer(0, e, &mut best);
            }
            continue;
        }
        if let Some(c) = p.compiler.captures(line) {
            let file = qualify(&c["file"], &seen_objects);
            let e = FirstError {
                file: Some(file),
                line: c["line"].parse::<u32>().ok(),
                message: c["msg"].trim().to_string(),
                log_line: idx + 1,
                hint: hint_for(line),
            };
            offer(0, e, &mut best);
            continue;
        }
        if let Some(c) = p.cmake_error.captures(line) {
            let file = c.name("file").map(|m| m.as_str().to_string());
            let lnum = c.name("line").and_then(|m| m.as_str().parse().ok());
            cmake_pending = Some((idx + 1, file, lnum));
            continue;
        }
        let plain = |hint: Option<String>| FirstError {
            file: None,
            line: None,
            message: line.trim().to_string(),
            log_line: idx + 1,
            hint,
        };
        if let Some(c) = p.make_error.captures(line) {
            let e = FirstError {
                message: c["msg"].trim().to_string(),
                ..plain(None)
            };
            offer(3, e, &mut best);
            continue;
        }
        let hint = hint_for(line);
        if hint.is_some() || p.undefined_ref.is_match(line) {
            offer(1, plain(hint), &mut best);
        } else if p.missing_program.is_match(line) || line.contains("error:") {
            offer(2, plain(None), &mut best);
        }
        if best.as_ref().is_some_and(|(r, _)| *r == 0) {
            break;
        }
    }
    if let Some((at, file, line)) = cmake_pending {
        let e = FirstError {
            file,
            line,
            message: "CMake Error".into(),
            log_line: at,
            hint: None,
        };
        offer(0, e, &mut best);
    }
    best.map(|(_, e)| e)
}

/// Prefixes a bare file name with the directory of the module that compiled
/// the matching object (modules compile in their own directory).
fn qualify(file: &str, seen: &[(String, String)]) -> String {
    if file.contains('/') {
        return file.to_string();
    }
    let stem = file.rsplit_once('.').map(|(s, _)| s).unwrap_or(file);
    seen.iter()
        .rev()
        .find(|(obj, _)| obj == stem)
        .map(|(_, dir)| format!("{dir}/{file}"))
        .unwrap_or_else(|| file.to_string())
}

/// A hint for a known cause found in `line`.
pub fn hint_for(line: &str) -> Option<String> {
    let p = patterns();
    if let Some(c) = p.missing_header.captures(line) {
        let hdr = &c["hdr"];
        if hdr.ends_with(".h") || hdr.contains('/') {
            return Some(header_hint(hdr));
        }
    }
    if let Some(c) = p.missing_program.captures(line) {
        if let Some(h) = program_hint(&c["prog"]) {
            return Some(h);
        }
    }
    if let Some(c) = p.missing_lib.captures(line) {
        let lib = &c["lib"];
        return Some(match LIB_PACKAGES.iter().find(|(name, _, _)| *name == lib) {
            Some((_, deb, rpm)) => format!(
                "the linker lacks lib{lib}: install {deb} (Debian/Ubuntu) or {rpm} (RHEL/Fedora), or leave out the module that needs it (--modules)"
            ),
            None => format!(
                "the linker lacks lib{lib}: install its -dev (Debian) / -devel (RPM) package, or leave out the module that needs it (--modules)"
            ),
        });
    }
    if let Some(c) = p.pkg_config.captures(line) {
        return Some(format!(
            "pkg-config does not know {}: install its -dev (Debian) / -devel (RPM) package, or leave out the module that needs it (--modules)",
            &c["pkg"]
        ));
    }
    if line.contains("Could NOT find BISON") {
        return program_hint("bison");
    }
    if line.contains("Could NOT find FLEX") {
        return program_hint("flex");
    }
    None
}

fn header_hint(hdr: &str) -> String {
    let base = hdr.trim_start_matches('<').trim_end_matches('>');
    match HEADER_PACKAGES
        .iter()
        .find(|(prefix, _, _)| base.starts_with(prefix) || base.ends_with(&format!("/{prefix}")))
    {
        Some((_, deb, rpm)) => format!(
            "missing header {base}: install {deb} (Debian/Ubuntu) or {rpm} (RHEL/Fedora), or leave out the module that needs it (--modules)"
        ),
        None => format!(
            "missing header {base}: find its package with `apt-file search {base}` (Debian) or `dnf provides '*/{base}'` (RPM) and install the -dev/-devel one, or leave out the module that needs it (--modules)"
        ),
    }
}

fn program_hint(prog: &str) -> Option<String> {
    let (name, deb, rpm) = PROGRAM_PACKAGES.iter().find(|(n, _, _)| *n == prog)?;
    Some(format!(
        "{name} is not installed (or not on PATH): install {deb} (Debian/Ubuntu) or {rpm} (RHEL/Fedora), then run kmemdbg build again"
    ))
}

/// What one line of build output says about progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressLine {
    /// One source file compiled (make's quiet `CC (gcc) [..] x.o`, a verbose
    /// `gcc ... -c x.c`, or CMake's `Building C object`).
    Compiled,
    /// CMake Makefile generator's `[ 42%]` or Ninja's `[12/345]`.
    Fraction {
        done: usize,
        total: usize,
    },
    Other,
}

/// Classifies one line of build output (pure, cheap: called for every line).
pub fn progress_line(line: &str) -> ProgressLine {
    let t = line.trim_start();
    if let Some(rest) = t.strip_prefix('[') {
        if let Some((inside, after)) = rest.split_once(']') {
            let building = after.contains("Building C object");
            let inside = inside.trim();
            if let Some(pct) = inside.strip_suffix('%') {
                if building {
                    if let Ok(p) = pct.trim().parse::<usize>() {
                        return ProgressLine::Fraction {
                            done: p.min(100),
                            total: 100,
                        };
                    }
                }
            } else if let Some((d, tot)) = inside.split_once('/') {
                if let (Ok(d), Ok(tot)) = (d.trim().parse(), tot.trim().parse()) {
                    if building {
                        return ProgressLine::Fraction {
                            done: d,
                            total: tot,
                        };
                    }
                }
            }
        }
    }
    if t.starts_with("CC (") || t.contains("Building C object") {
        return ProgressLine::Compiled;
    }
    if is_compile_command(t) {
        return ProgressLine::Compiled;
    }
    ProgressLine::Other
}

/// True for a verbose compiler call that compiles one C file (`... -c x.c ...`).
pub fn is_compile_command(line: &str) -> bool {
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        if w == "-c" {
            if let Some(next) = words.peek() {
                return next.ends_with(".c");
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn core_compile_error_with_file_and_line() {
        let log = "CC (gcc) [kamailio]\t\tmain.o\nCC (gcc) [kamailio]\t\tcore/action.o\n\
core/action.c: In function 'do_action':\n\
core/action.c:1234:9: error: expected ';' before 'return'\n\
 1234 |         return 0\n\
make: *** [Makefile.rules:100: core/action.o] Error 1\n";
        let e = first_error(log).unwrap();
        assert_eq!(e.file.as_deref(), Some("core/action.c"));
        assert_eq!(e.line, Some(1234));
        assert_eq!(e.message, "expected ';' before 'return'");
        assert_eq!(e.log_line, 4);
        assert_eq!(e.location(), "core/action.c:1234");
    }

    #[test]
    fn module_file_is_qualified_by_the_module_that_compiled_it() {
        let log = "CC (gcc) [M tm.so]\t\tt_funcs.o\nCC (gcc) [M sl.so]\t\tsl.o\n\
t_funcs.c:88:1: error: unknown type name 'foo'\n";
        let e = first_error(log).unwrap();
        assert_eq!(e.location(), "modules/tm/t_funcs.c:88");
    }

    #[test]
    fn missing_header_names_the_dev_package() {
        let log = "CC (gcc) [M db_mysql.so]\t\tkm_my_con.o\n\
km_my_con.c:30:10: fatal error: mysql.h: No such file or directory\n";
        let e = first_error(log).unwrap();
        assert_eq!(e.location(), "modules/db_mysql/km_my_con.c:30");
        let hint = e.hint.unwrap();
        assert!(hint.contains("default-libmysqlclient-dev"), "{hint}");
        assert!(hint.contains("mariadb-connector-c-devel"), "{hint}");
        let h =
            hint_for("x.c:1:10: fatal error: openssl/ssl.h: No such file or directory").unwrap();
        assert!(
            h.contains("libssl-dev") && h.contains("openssl-devel"),
            "{h}"
        );
        let h =
            hint_for("x.c:1:10: fatal error: weird/thing.h: No such file or directory").unwrap();
        assert!(h.contains("apt-file search weird/thing.h"), "{h}");
    }

    #[test]
    fn missing_bison_and_flex_are_named() {
        // GNU make 4.3 running a recipe without a shell, and dash running one with.
        for line in [
            "make: bison: No such file or directory",
            "/bin/sh: 1: bison: not found",
        ] {
            let log = format!("CC (gcc) [kamailio]\t\tmain.o\n{line}\nmake: *** [Makefile:264: core/cfg.tab.c] Error 127\n");
            let e = first_error(&log).unwrap();
            assert_eq!(e.message, line);
            assert!(e.hint.unwrap().contains("install bison"), "{line}");
        }
        let e = first_error("/bin/sh: 1: flex: not found\n").unwrap();
        assert!(e.hint.unwrap().contains("install flex"));
    }

    #[test]
    fn linker_and_cmake_errors() {
        let e = first_error("/usr/bin/ld: cannot find -lssl: No such file or directory\n").unwrap();
        assert!(e.hint.unwrap().contains("libssl-dev"));
        let log = "-- Building groups: DEFAULT\nCMake Error at src/modules/db_mysql/CMakeLists.txt:9 (find_package):\n\n  Could not find a package configuration file provided by \"MySQL\"\n";
        let e = first_error(log).unwrap();
        assert_eq!(e.location(), "src/modules/db_mysql/CMakeLists.txt:9");
        assert!(e.message.contains("MySQL"), "{e:?}");
        let e = first_error("CMake Error at cmake/defs.cmake:10 (find_package):\n  Could NOT find BISON (missing: BISON_EXECUTABLE)\n").unwrap();
        assert!(e.hint.unwrap().contains("install bison"));
    }

    #[test]
    fn make_failure_without_compiler_message() {
        let e =
            first_error("make[1]: *** No rule to make target 'foo.c', needed by 'foo.o'.  Stop.\n")
                .unwrap();
        assert!(e.message.starts_with("No rule to make target"));
        assert!(first_error("all good\nCC (gcc) [kamailio]\t\tmain.o\n").is_none());
    }

    #[test]
    fn progress_lines() {
        assert_eq!(
            progress_line("CC (gcc) [kamailio]\t\tcore/action.o"),
            ProgressLine::Compiled
        );
        assert_eq!(
            progress_line("gcc -g -O2 -DNAME='\"kamailio\"' -c core/action.c -o core/action.o"),
            ProgressLine::Compiled
        );
        assert_eq!(
            progress_line("[ 42%] Building C object src/core/CMakeFiles/x.dir/action.c.o"),
            ProgressLine::Fraction {
                done: 42,
                total: 100
            }
        );
        assert_eq!(
            progress_line("[12/345] Building C object src/core/CMakeFiles/x.dir/action.c.o"),
            ProgressLine::Fraction {
                done: 12,
                total: 345
            }
        );
        assert_eq!(
            progress_line("[ 43%] Linking C executable kamailio"),
            ProgressLine::Other
        );
        assert_eq!(
            progress_line("LD (gcc) [kamailio]\t\tkamailio"),
            ProgressLine::Other
        );
        assert_eq!(
            progress_line("bison -d -b core/cfg core/cfg.y"),
            ProgressLine::Other
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,400}") {
            let _ = first_error(&s);
            let _ = progress_line(&s);
            let _ = hint_for(&s);
        }

        #[test]
        fn never_panics_on_log_like_text(lines in proptest::collection::vec(
            "(CC \\(gcc\\) \\[[MLU] [a-z.]{0,8}\\]\t[a-z_/.]{0,10}|[a-z/._]{0,12}:[0-9]{0,5}:[0-9]{0,3}: (fatal )?error: [ -~]{0,30}|CMake Error at [a-z./]{0,10}:[0-9]{0,3}|\\[ ?[0-9]{0,4}(%|/[0-9]{0,4})\\] Building C object [a-z]{0,5}|make(\\[[0-9]\\])?: \\*\\*\\* [ -~]{0,20})",
            0..20)) {
            let log = lines.join("\n");
            if let Some(e) = first_error(&log) {
                prop_assert!(e.log_line >= 1 && e.log_line <= lines.len().max(1));
            }
        }
    }
}
