//! Printing to stdout the way command-line tools do: a reader that goes away (`| head`) ends
//! the printing quietly while the work goes on (a batch still writes all its files), and a
//! stdout that cannot be written (`> /dev/full`) is reported once, at the end, as an error.
//! Rust's `println!` would panic in both cases.

use std::io::{ErrorKind, Write};
use std::sync::Mutex;

use webgpu_style_transfer::{Error, Result};

enum State {
    Open,
    /// The reader closed the pipe: print nothing more, and that is fine.
    Closed,
    /// Writing failed otherwise: print nothing more, report it at the end.
    Failed(String),
}

static STATE: Mutex<State> = Mutex::new(State::Open);

/// Prints one line to stdout (see the module docs for what happens when that fails).
pub fn say(line: &str) {
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    if !matches!(*state, State::Open) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        *state = match e.kind() {
            ErrorKind::BrokenPipe => State::Closed,
            _ => State::Failed(e.to_string()),
        };
    }
}

/// The error to end with if stdout could not be written (other than by a closed pipe).
pub fn check() -> Result<()> {
    match &*STATE.lock().unwrap_or_else(|p| p.into_inner()) {
        State::Failed(e) => Err(Error::Io {
            path: "stdout".into(),
            message: format!("cannot write: {e}"),
        }),
        _ => Ok(()),
    }
}
