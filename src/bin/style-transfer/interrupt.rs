//! Ctrl-C: the first press asks the running command to stop at its next safe point (a
//! finished photo, a finished iteration) and keep what it has done; a second press ends the
//! process at once.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once; later calls do nothing).
pub fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: stopping now");
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: stopping at the next safe point (Ctrl-C again to quit now)");
        });
    });
}

/// Whether Ctrl-C was pressed.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
