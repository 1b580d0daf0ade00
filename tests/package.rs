//! Shipping kmemdbg: `--version`, `completions`, `man`, and the Debian package
//! built by ci/build-deb.sh, installed for real with dpkg and removed again.

mod common;
use clap::CommandFactory;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Visible subcommands, read from the same clap definitions the binary uses,
/// so a subcommand added later is checked without touching this file.
fn subcommands() -> Vec<String> {
    kmemdbg::cli::Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect()
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("spawn");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asks the completion function `_kmemdbg` in `script` (a file bash
/// sources) what it offers for the command line `words`.
fn bash_complete(script: &Path, words: &[&str]) -> (String, Vec<String>) {
    let line = words.join(" ");
    let program = format!(
        "source {script}\ncomplete -p kmemdbg\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\n\
         COMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n_kmemdbg kmemdbg '{cur}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script = script.display(),
        words = words.join(" "),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let (code, out, err) = output(Command::new("bash").arg("-c").arg(program));
    assert_eq!(code, 0, "bash completion failed: {err}");
    let mut lines = out.lines();
    let complete = lines.next().unwrap_or_default().to_string();
    (complete, lines.map(str::to_string).collect())
}

#[test]
fn version_names_crate_version_and_git_revision() {
    let (code, out, _) = run_kmemdbg(&["--version"]);
    assert_eq!(code, 0);
    let re =
        regex::Regex::new(r"^kmemdbg (\d+\.\d+\.\d+) \(git ([0-9a-f]{12}|unknown)\)\n$").unwrap();
    let caps = re.captures(&out).unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(&caps[1], env!("CARGO_PKG_VERSION"));
    // Built from this checkout: the revision is HEAD's (build.rs watches HEAD).
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success());
    if let Some(head) = head {
        assert_eq!(
            &caps[2],
            String::from_utf8_lossy(&head.stdout).trim(),
            "{out}"
        );
    }
    let (_, short, _) = run_kmemdbg(&["-V"]);
    assert_eq!(short, out);
}

#[test]
fn completions_bash_completes_subcommands_and_their_options() {
    let dir = tempfile::tempdir().unwrap();
    let (code, script, err) = run_kmemdbg(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    let path = dir.path().join("kmemdbg.bash");
    std::fs::write(&path, &script).unwrap();
    let (complete, offered) = bash_complete(&path, &["kmemdbg", ""]);
    assert!(
        complete.contains("-F _kmemdbg") && complete.ends_with(" kmemdbg"),
        "{complete}"
    );
    for sub in subcommands() {
        assert!(offered.contains(&sub), "{sub} not offered: {offered:?}");
    }
    let (_, offered) = bash_complete(&path, &["kmemdbg", "verify", "--mi"]);
    assert_eq!(offered, vec!["--min-version"]);
    let (_, offered) = bash_complete(&path, &["kmemdbg", "completions", "z"]);
    assert_eq!(offered, vec!["zsh"]);
}

#[test]
fn completions_zsh_and_fish_and_unknown_shell() {
    let (code, zsh, _) = run_kmemdbg(&["completions", "zsh"]);
    assert_eq!(code, 0);
    assert!(zsh.starts_with("#compdef kmemdbg\n"), "{zsh}");
    let (code, fish, _) = run_kmemdbg(&["completions", "fish"]);
    assert_eq!(code, 0);
    for sub in subcommands() {
        assert!(
            fish.contains(&format!("-a \"{sub}\"")),
            "fish lacks {sub}:\n{fish}"
        );
        assert!(zsh.contains(&format!("'{sub}:")), "zsh lacks {sub}");
    }
    let (code, _, err) = run_kmemdbg(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(err.contains("possible values: bash"), "{err}");
}

/// Renders a roff page with man-db (`man -l`), asserting no error or warning.
fn render_man(page: &Path) -> String {
    let (code, out, err) = output(
        Command::new("man")
            .args(["--warnings", "-l"])
            .arg(page)
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100")
            .env("LC_ALL", "C.UTF-8"),
    );
    assert_eq!(code, 0, "man -l {} failed: {err}", page.display());
    assert!(
        err.trim().is_empty(),
        "man -l {} warned: {err}",
        page.display()
    );
    out
}

#[test]
fn man_dir_writes_one_page_per_subcommand_that_man_renders() {
    if !require_real(
        "man_dir_writes_one_page_per_subcommand_that_man_renders",
        "man-db (`man`)",
        have_program("man"),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mandir = dir.path().join("share/man/man1");
    let md = mandir.to_str().unwrap();
    let (code, out, err) = run_kmemdbg(&["man", "--dir", md]);
    assert_eq!(code, 0, "{err}");
    let subs = subcommands();
    assert!(
        out.contains(&format!("{} written, 0 already up to date", subs.len() + 1)),
        "{out}"
    );
    let top = render_man(&mandir.join("kmemdbg.1"));
    assert!(
        top.contains("NAME") && top.contains("Find Kamailio memory leaks"),
        "{top}"
    );
    for sub in &subs {
        assert!(
            top.contains(&format!("kmemdbg-{sub}(1)")),
            "top page lacks {sub}:\n{top}"
        );
        let page = render_man(&mandir.join(format!("kmemdbg-{sub}.1")));
        assert!(page.contains(&format!("kmemdbg {sub}")), "{page}");
    }
    let mut names: Vec<String> = std::fs::read_dir(&mandir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), subs.len() + 1, "{names:?}");

    // Second run: same pages, nothing written.
    let before = std::fs::metadata(mandir.join("kmemdbg.1"))
        .unwrap()
        .modified()
        .unwrap();
    let (code, out, _) = run_kmemdbg(&["man", "--dir", md]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("0 written, {} already up to date", subs.len() + 1)),
        "{out}"
    );
    let after = std::fs::metadata(mandir.join("kmemdbg.1"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);

    // Without --dir: kmemdbg(1) on stdout, identical to the written page.
    let (code, roff, _) = run_kmemdbg(&["man"]);
    assert_eq!(code, 0);
    assert_eq!(
        roff,
        std::fs::read_to_string(mandir.join("kmemdbg.1")).unwrap()
    );
}

#[test]
fn man_dir_that_cannot_be_created_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let target = file.join("man1");
    let (code, _, err) = run_kmemdbg(&["man", "--dir", target.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot create") && err.contains("a-file/man1"),
        "{err}"
    );
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).1.trim() == "0"
}

fn dpkg_status(package: &str) -> String {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package])).1
}

/// True when dpkg has `package` unpacked or installed ("install ok installed",
/// "... half-installed", ...), false for "not-installed", "config-files" or unknown.
fn dpkg_has(package: &str) -> bool {
    let status = dpkg_status(package);
    let state = status.split_whitespace().last().unwrap_or("");
    !matches!(state, "" | "not-installed" | "config-files")
}

/// Runs a dpkg command, waiting (bounded) while another process holds the
/// dpkg lock: other tests or an apt-get on this machine may be running.
fn dpkg(args: &[&str]) -> (i32, String, String) {
    let start = Instant::now();
    loop {
        let (code, out, err) = output(
            Command::new("dpkg")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        );
        let locked = code != 0 && err.contains("lock");
        if !locked || start.elapsed() > Duration::from_secs(300) {
            return (code, out, err);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Purges the package when the test ends, however it ends.
struct Installed;
impl Drop for Installed {
    fn drop(&mut self) {
        let (code, _, err) = dpkg(&["--purge", "kmemdbg"]);
        if code != 0 {
            eprintln!("dpkg --purge kmemdbg failed: {err}");
        }
    }
}

#[test]
fn real_deb_builds_installs_runs_and_purges() {
    const T: &str = "real_deb_builds_installs_runs_and_purges";
    if !require_real(T, "root", is_root())
        || !require_real(
            T,
            "dpkg-deb, dpkg-shlibdeps (dpkg-dev), man (man-db) and bash",
            ["dpkg-deb", "dpkg-shlibdeps", "dpkg", "man", "bash"]
                .iter()
                .all(|p| have_program(p)),
        )
        || !require_real(
            T,
            "a machine without kmemdbg installed (dpkg -r kmemdbg, rm /usr/bin/kmemdbg), so the test leaves it as it was",
            !dpkg_has("kmemdbg") && !Path::new("/usr/bin/kmemdbg").exists(),
        )
    {
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let (code, stdout, err) = output(
        Command::new("bash")
            .arg(repo().join("ci/build-deb.sh"))
            .args(["--binary", env!("CARGO_BIN_EXE_kmemdbg"), "--out"])
            .arg(out_dir.path()),
    );
    assert_eq!(code, 0, "build-deb.sh failed:\n{err}");
    let deb = PathBuf::from(stdout.lines().last().unwrap_or_default());
    let arch = output(Command::new("dpkg").arg("--print-architecture")).1;
    assert_eq!(
        deb.file_name().unwrap().to_string_lossy(),
        format!("kmemdbg_{}_{}.deb", env!("CARGO_PKG_VERSION"), arch.trim())
    );

    // The control file, as dpkg reads it.
    let field = |name: &str| {
        let (code, out, err) = output(Command::new("dpkg-deb").arg("--field").arg(&deb).arg(name));
        assert_eq!(code, 0, "{err}");
        out.trim().to_string()
    };
    assert_eq!(field("Package"), "kmemdbg");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    let depends = field("Depends");
    assert!(
        depends.starts_with("libc6 (>= ") || depends.contains(" libc6 (>= "),
        "{depends}"
    );
    assert!(field("Installed-Size").parse::<u64>().unwrap() > 100);

    let (code, _, err) = dpkg(&["-i", deb.to_str().unwrap()]);
    let _purge = Installed;
    assert_eq!(code, 0, "dpkg -i failed: {err}");
    assert!(dpkg_status("kmemdbg").contains("install ok installed"));

    // The installed binary is the one under test.
    let (code, version, _) = output(Command::new("/usr/bin/kmemdbg").arg("--version"));
    assert_eq!(code, 0);
    assert_eq!(version, run_kmemdbg(&["--version"]).1);

    // Every page is installed gzipped, found by name, and renders cleanly.
    let (code, path, err) = output(Command::new("man").args(["-w", "kmemdbg"]));
    assert_eq!(
        (code, path.trim()),
        (0, "/usr/share/man/man1/kmemdbg.1.gz"),
        "{err}"
    );
    let top = render_man(Path::new("/usr/share/man/man1/kmemdbg.1.gz"));
    assert!(top.contains("Find Kamailio memory leaks"), "{top}");
    for sub in subcommands() {
        let page = format!("/usr/share/man/man1/kmemdbg-{sub}.1.gz");
        let text = render_man(Path::new(&page));
        assert!(text.contains(&format!("kmemdbg {sub}")), "{page}:\n{text}");
    }

    // Bash completion from the installed file.
    let bash = Path::new("/usr/share/bash-completion/completions/kmemdbg");
    let (complete, offered) = bash_complete(bash, &["kmemdbg", "ins"]);
    assert!(
        complete.starts_with("complete ") && complete.contains("-F _kmemdbg"),
        "{complete}"
    );
    assert_eq!(offered, vec!["inspect"]);

    // The other files, as listed by dpkg.
    let (_, listed, _) = output(Command::new("dpkg").args(["-L", "kmemdbg"]));
    for f in [
        "/usr/bin/kmemdbg",
        "/usr/share/zsh/vendor-completions/_kmemdbg",
        "/usr/share/fish/vendor_completions.d/kmemdbg.fish",
        "/usr/share/doc/kmemdbg/README.md.gz",
        "/usr/share/doc/kmemdbg/copyright",
        "/usr/share/doc/kmemdbg/changelog.gz",
    ] {
        assert!(
            listed.lines().any(|l| l == f),
            "{f} not in the package:\n{listed}"
        );
        assert!(Path::new(f).is_file(), "{f} not installed");
    }
    let copyright = std::fs::read_to_string("/usr/share/doc/kmemdbg/copyright").unwrap();
    assert!(copyright
        .starts_with("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"));
    assert!(copyright.contains("License: MIT"));
    let (_, readme, _) = output(Command::new("zcat").arg("/usr/share/doc/kmemdbg/README.md.gz"));
    assert_eq!(
        readme,
        std::fs::read_to_string(repo().join("README.md")).unwrap()
    );

    // Removal leaves the box as it was.
    drop(_purge);
    assert!(
        !dpkg_status("kmemdbg").contains("installed"),
        "{}",
        dpkg_status("kmemdbg")
    );
    for f in [
        "/usr/bin/kmemdbg",
        "/usr/share/man/man1/kmemdbg.1.gz",
        bash.to_str().unwrap(),
    ] {
        assert!(!Path::new(f).exists(), "{f} left behind");
    }
}
