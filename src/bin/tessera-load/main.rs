//! `tessera-load`: the load generator. It opens N viewer sessions (each with a viewport chosen by
//! a scenario) and K painter sessions that paint at a fixed rate, against a tessera server over
//! loopback websockets, against `wsprobe limit-server` (`--protocol raw`, the measured ceiling), or
//! against the session actors in this process (`--in-process`), and reports whether every paint
//! reached every viewer that should see it, how fast, and at what CPU cost.
//!
//! ```sh
//! TESSERA__SERVER__LISTEN=127.0.0.1:0 cargo run --release &    # prints its URL
//! cargo run --release --bin tessera-load -- --url ws://127.0.0.1:PORT/ws --sessions 500 \
//!     --scenario hotspot --zoom 2 --paint-rate 2000 --server-pid PID [--json]
//! cargo run --release --bin tessera-load -- --in-process --sessions 500 --scenario overview
//! ```
//!
//! # How a run is judged
//! Painting starts once every viewer holds the `TileState` of every tile of its viewport. Paint
//! `seq` is due at `start + seq / rate`; only paints due in the last `--duration` seconds are
//! measured. When a painter sends a measured paint it adds the number of viewers stably
//! subscribed to the paint's tile to `deliveries_expected` (and takes it back if the server
//! rejects the paint). A viewer identifies each pixel it receives by inverting the paint plan and
//! counts it as received (with its latency), transitional (it was joining or leaving the tile) or
//! duplicate. `missing = deliveries_expected - deliveries_received` after up to 2 s of stragglers.
//!
//! # Layout
//! - [`cli`]: flags and their validation; [`run`]: the phases of a run, start to report.
//! - [`scenario`]: viewports per scenario; [`plan`]: which pixel each paint hits, and back.
//! - [`viewer`], [`painter`]: the two kinds of session task.
//! - [`accounting`]: expected deliveries and what a receipt counts as; [`latency`]: per-thread
//!   histograms; [`timeline`]: the clock and schedule; [`context`]: what the tasks share;
//!   [`tile_table`]: a viewer's per-tile records.
//! - [`codec`]: tessera's protocol and the raw records; [`transport`]: websockets or in-process
//!   channels.
//! - [`report`], [`sysstat`], [`progress`]: output, `/proc` readings, the progress bar.
//! - [`rng`]: the seeded random numbers.

mod accounting;
mod cli;
mod codec;
mod context;
mod frame_memo;
mod identify;
mod latency;
mod painter;
mod plan;
mod progress;
mod report;
mod rng;
mod run;
mod scenario;
mod sysstat;
mod tile_table;
mod timeline;
mod transport;
mod viewer;

use std::process::ExitCode;

use clap::Parser;

/// File descriptors needed beyond one per connection: stdio, the runtimes' epoll and wake-up
/// descriptors, `/proc` reads, the in-process server's arbiters.
const SPARE_FDS: u64 = 64;
/// Exit status for invalid flags, as clap uses.
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let Err(e) = args.validate() {
        eprintln!("tessera-load: {e}");
        return ExitCode::from(USAGE_ERROR);
    }
    let needed = (args.sessions + args.painters) as u64 + SPARE_FDS;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => eprintln!(
            "warning: the open-file limit is {limit}, below the {needed} this run needs; expect connect errors"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-file limit: {e}"),
    }
    let runtimes = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("viewers")
        .build()
        .and_then(|viewers| {
            // Painters get a runtime of their own, so a backlog of viewer work cannot delay the
            // offered load (send_lag_* shows how well it kept to schedule).
            let painters = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .thread_name("painters")
                .build()?;
            Ok((viewers, painters))
        });
    let (viewers, painters) = match runtimes {
        Ok(runtimes) => runtimes,
        Err(e) => {
            eprintln!("tessera-load: cannot start the runtimes: {e}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = run::hard_deadline(&args);
    let outcome = viewers.block_on(async {
        tokio::time::timeout(deadline, run::run(&args, painters.handle().clone())).await
    });
    // Connection tasks may still be parked; the process is done with them.
    painters.shutdown_background();
    viewers.shutdown_background();
    match outcome {
        Ok(Ok(report)) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("tessera-load: {e:#}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!(
                "tessera-load: the run did not finish within its hard deadline of {} s; gave up",
                deadline.as_secs()
            );
            ExitCode::FAILURE
        }
    }
}
