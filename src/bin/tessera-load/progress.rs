//! The progress bar on stderr (connecting, painting, stragglers), drawn only when stderr is a
//! terminal so logs, pipes and CI output stay clean. Stdout is left to the report.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const TEMPLATE: &str = "{prefix:>11} [{bar:30}] {pos}/{len} {msg}";

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new() -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template(TEMPLATE)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Self { bar }
    }

    /// Starts a phase counting up to `len`.
    pub fn phase(&self, name: &'static str, len: u64) {
        self.bar.set_prefix(name);
        self.bar.set_length(len);
        self.bar.set_position(0);
        self.bar.set_message("");
    }

    pub fn update(&self, position: u64, message: String) {
        self.bar.set_position(position);
        self.bar.set_message(message);
    }

    /// Prints a line above the bar (or plainly when the bar is hidden).
    pub fn warn(&self, message: &str) {
        if self.bar.is_hidden() {
            eprintln!("warning: {message}");
        } else {
            self.bar.println(format!("warning: {message}"));
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
