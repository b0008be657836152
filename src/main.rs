//! `tessera`: runs the canvas server with the layered settings.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use tessera::app::Application;
use tessera::settings::{Settings, Sources};

/// A tile-sharded actor server for r/place-style collaborative canvases.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Settings file layered over the embedded defaults and settings/local.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // Logs on stderr; stdout carries only the URL line, for scripts.
        .with_writer(std::io::stderr)
        .init();
    let settings = Settings::load(&Sources::for_process(cli.config)).context("invalid settings")?;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).context("startup failed")?;
        tracing::info!("Tessera listening on http://{}/", app.local_addr());
        println!("Tessera is running: open http://{}/", app.local_addr());
        app.run_until_stopped().await.context("server failed")
    })
}
