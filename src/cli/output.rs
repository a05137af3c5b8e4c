//! Where results go: JSON on stdout with `--json`, else lines for people. The
//! one place `--json` is decided, so every command answers the same way.

use std::io::Write as _;

use serde::Serialize;

/// How a command prints its result.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// `value` as one line of JSON with `--json`, else as `human` writes it.
    pub fn print<T: Serialize + ?Sized>(
        &self,
        value: &T,
        human: impl FnOnce(&T),
    ) -> anyhow::Result<()> {
        if self.json {
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer(&mut stdout, value)?;
            writeln!(stdout)?;
        } else {
            human(value);
        }
        Ok(())
    }
}
