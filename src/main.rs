//! The `corral` binary: `corral serve` runs the server; `corral data` reads
//! ZooKeeper-format data files; `corral bench` loads a server (corral or Apache
//! ZooKeeper) and measures it; `corral cli` is a zkCli.

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
    /// Inspect data files in ZooKeeper's formats (ours or Apache ZooKeeper's).
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Load a ZooKeeper-protocol server (corral or Apache ZooKeeper) and measure throughput,
    /// latency percentiles and CPU per op.
    Bench(Box<corral::bench::BenchArgs>),
    /// A native zkCli: Apache ZooKeeper's command-line client, its arguments, commands and
    /// output (`corral cli -server host:port[,host:port...][/chroot] [-timeout ms] [-r]
    /// [-waitforconnection] [cmd args...]`).
    #[command(disable_help_flag = true)]
    Cli {
        /// zkCli's arguments, single-dash words as ZooKeeperMain takes them, then an optional
        /// one-shot command.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Dump a txn log (`log.<zxid>`): one line per txn, then a summary. Exits 1 on a bad record.
    Log {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print at most N records (the whole file is still checked).
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// Dump a snapshot (`snapshot.<zxid>`): every node, sessions, ACLs, then a summary.
    /// Exits 1 on a checksum or format error.
    Snapshot {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Also print each node's data (text if printable, base64 otherwise).
        #[arg(long)]
        data: bool,
        /// Print only the summary.
        #[arg(long, conflicts_with = "data")]
        summary: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Cli { args } = &cli.command {
        // No logging set-up: start-up time is part of what a shell tool is judged by.
        let code = corral::cli::run(args);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Cli { .. } => ExitCode::SUCCESS,
        Command::Data { command } => run_data(command),
        Command::Serve {
            config,
            config_positional,
            overrides,
        } => {
            let path = config.or(config_positional);
            // zkServer.sh hands SERVER_JVMFLAGS and JVMFLAGS to the JVM; the
            // JAAS file is usually named there. Command-line overrides win.
            let jvm_flags = ["JVMFLAGS", "SERVER_JVMFLAGS"].map(|k| std::env::var(k).ok());
            let mut all =
                config::jvm_flag_overrides(jvm_flags.iter().flatten().map(String::as_str));
            all.extend(overrides);
            let loaded = match Config::load(path.as_deref(), &all) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("corral: invalid configuration: {e}");
                    return ExitCode::from(2);
                }
            };
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            exit_on_termination_signals();
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

/// SIGTERM and SIGINT end the server at once, as their default action does. Installed as
/// handlers because the kernel drops signals left at their default action when they are
/// sent to a namespace's init: as a container's PID 1 (the corral image's CMD), corral
/// would otherwise ignore `docker stop` until Docker's SIGKILL ten seconds later. Nothing
/// needs flushing: a write is acknowledged only once it is on disk.
fn exit_on_termination_signals() {
    extern "C" fn exit_now(signal: libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + signal) }
    }
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: installs a handler that only calls an async-signal-safe function.
        unsafe { libc::signal(signal, exit_now as *const () as libc::sighandler_t) };
    }
}

/// `corral data ...`: 0 when the file is clean, 1 when it is bad, 2 when it
/// cannot be read or the output fails.
fn run_data(command: DataCommand) -> ExitCode {
    use corral::storage::tool;
    let file = match &command {
        DataCommand::Log { file, .. } | DataCommand::Snapshot { file, .. } => file.clone(),
    };
    let bytes = match std::fs::read(&file) {
        Ok(b) => bytes::Bytes::from(b),
        Err(e) => {
            eprintln!("corral: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let name = file.display().to_string();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let ok = match command {
        DataCommand::Log { limit, .. } => {
            tool::dump_log(bytes, &name, tool::LogOptions { limit }, &mut out).map(|s| s.ok())
        }
        DataCommand::Snapshot { data, summary, .. } => {
            let opts = tool::SnapshotOptions {
                data,
                summary_only: summary,
            };
            tool::dump_snapshot(bytes, &name, opts, &mut out).map(|s| s.ok())
        }
    };
    match ok.and_then(|ok| std::io::Write::flush(&mut out).map(|()| ok)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        // A closed pipe (`| head`): the reader left; no need to say so.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(2),
        Err(e) => {
            eprintln!("corral: {e}");
            ExitCode::from(2)
        }
    }
}
