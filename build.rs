//! Records the git revision kmemdbg is built from, for `kmemdbg --version`.
//!
//! `KMEMDBG_GIT_REV` in the environment wins (a build from a source tarball
//! has no .git); otherwise `git rev-parse`; otherwise "unknown". The build
//! script reruns when HEAD moves: it watches the files git itself changes on
//! a commit or checkout, found through git (a worktree's `.git` is a file).
use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=KMEMDBG_GIT_REV");
    let rev = std::env::var("KMEMDBG_GIT_REV")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=KMEMDBG_GIT_REV={rev}");

    // Watch HEAD (per worktree), the branch ref it points to and packed-refs
    // (shared). Only existing files: a missing one would rerun every build.
    let git_dir = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from);
    let common_dir = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .map(PathBuf::from)
        .or_else(|| git_dir.clone());
    let mut watched = Vec::new();
    if let Some(dir) = &git_dir {
        watched.push(dir.join("HEAD"));
    }
    if let Some(common) = &common_dir {
        if let Some(branch_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(dir_join(common, &branch_ref));
            if let Some(dir) = &git_dir {
                watched.push(dir_join(dir, &branch_ref));
            }
        }
        watched.push(common.join("packed-refs"));
    }
    for path in watched.into_iter().filter(|p| p.is_file()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    if git_dir.is_none() {
        // No repository: nothing to watch but this script.
        println!("cargo:rerun-if-changed=build.rs");
    }
}

fn dir_join(dir: &std::path::Path, rel: &str) -> PathBuf {
    rel.split('/')
        .fold(dir.to_path_buf(), |p, part| p.join(part))
}
