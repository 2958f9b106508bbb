//! The `corral` binary: `corral serve` runs the server; `corral bench` loads one
//! (corral or Apache ZooKeeper) and measures it.

use clap::{Parser, Subcommand};
use corral::config::{self, Config};
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "corral",
    version,
    about = "A ZooKeeper-compatible coordination server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a server. With no arguments: standalone on port 2181, data under ./data.
    Serve {
        /// A zoo.cfg file, as Apache ZooKeeper reads it.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The config file may also be given as a plain argument (as zkServer.sh takes it).
        #[arg(value_name = "CONFIG", conflicts_with = "config")]
        config_positional: Option<PathBuf>,
        /// key=value applied after the file (repeatable), as Kafka's zookeeper-server-start takes it.
        #[arg(long = "override", value_name = "KEY=VALUE", value_parser = config::parse_override)]
        overrides: Vec<(String, String)>,
    },
    /// Load a ZooKeeper-protocol server (corral or Apache ZooKeeper) and measure throughput,
    /// latency percentiles and CPU per op.
    Bench(Box<corral::bench::BenchArgs>),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            config_positional,
            overrides,
        } => {
            let path = config.or(config_positional);
            let loaded = match Config::load(path.as_deref(), &overrides) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("corral: invalid configuration: {e}");
                    return ExitCode::from(2);
                }
            };
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            match corral::server::run(loaded.config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("corral: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Bench(args) => match corral::bench::run(&args) {
            Ok(summary) if summary.errors == 0 => ExitCode::SUCCESS,
            Ok(_) => ExitCode::from(3),
            Err(e) => {
                eprintln!("corral bench: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
