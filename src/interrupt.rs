//! Ctrl-C (SIGINT) and SIGTERM as a request, not a crash: once [`arm`]ed,
//! a signal only sets a flag that long-running commands check between
//! steps. A restart in progress always finishes (or rolls back) before the
//! command stops, so a signal never leaves a box without its proxy.
//!
//! Before [`arm`] the default applies (the process ends at once), which is
//! right while nothing has been changed yet. Never exits the process itself.
//!
//! A closed pipe (`kmemdbg analyze big.log | head`) ends kmemdbg the way it
//! ends other Unix tools, quietly by SIGPIPE ([`quiet_on_closed_pipe`]),
//! instead of a panic at the next print.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// From now on SIGINT/SIGTERM set the flag instead of ending the process.
/// Arming again does nothing.
pub fn arm() {
    static ARMED: std::sync::Once = std::sync::Once::new();
    ARMED.call_once(|| {
        let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let _ = signal_hook::flag::register(sig, Arc::clone(flag));
        }
    });
}

/// SIGPIPE gets its default action back (Rust ignores it, so a write to a
/// closed pipe would fail and the next `print!` panic).
pub fn quiet_on_closed_pipe() {
    let pipe = signal_hook::consts::SIGPIPE;
    // SAFETY: the handler calls only `emulate_default_handler`, which
    // signal-hook documents as async-signal-safe.
    let _ = unsafe {
        signal_hook::low_level::register(pipe, move || {
            let _ = signal_hook::low_level::emulate_default_handler(pipe);
        })
    };
}

/// True once a signal arrived after [`arm`].
pub fn requested() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// Test hook: when `KMEMDBG_PAUSE_AT` names this point, say so on stderr
/// and wait (up to 60 s, or until a signal is noticed) so a test can send a
/// signal at exactly this moment.
pub fn pause_hook(point: &str) {
    if std::env::var("KMEMDBG_PAUSE_AT").ok().as_deref() != Some(point) {
        return;
    }
    eprintln!("kmemdbg: paused at {point}");
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(60) && !requested() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
