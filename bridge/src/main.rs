//! sluice: the binary. Command line, pipe files, the supervisor and the admin server.
//!
//! Layout: `yaml.rs` (located YAML and secrets), `de.rs` (serde over located YAML),
//! `config.rs` (the pipe document), `load.rs` (files → validated pipes), `assemble.rs`
//! (configuration → connectors), `run.rs` (the supervisor), `supervise.rs` (one pipe kept alive), `admin.rs` (HTTP
//! endpoints), `logging.rs` (redacted logs).

mod admin;
mod assemble;
mod config;
mod console;
mod de;
mod import;
mod load;
mod logging;
mod run;
mod stack;
mod supervise;
mod until_empty;
mod yaml;

use clap::{Parser, Subcommand};
use sluice_core::config::HumanDuration;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "A self-hosted message-broker bridge: queues to functions, like Lambda event source mappings"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every pipe until SIGTERM or SIGINT, then drain and exit 0.
    Run {
        /// Address of the admin endpoints (/metrics, /healthz, /readyz, /pipes).
        #[arg(long, env = "SLUICE_ADMIN_ADDR", default_value = "127.0.0.1:9595")]
        admin_addr: SocketAddr,
        /// Longest wait for the whole shutdown (batches in flight, settling, closing); 0s..1h.
        #[arg(long, default_value = "30s", value_parser = parse_shutdown_timeout)]
        shutdown_timeout: HumanDuration,
        /// A file holding the admin token (or set SLUICE_ADMIN_TOKEN): every admin endpoint
        /// but /healthz and /readyz then needs `Authorization: Bearer TOKEN`.
        #[arg(long)]
        admin_token_file: Option<PathBuf>,
        /// Allow a non-loopback --admin-addr without a token.
        #[arg(long)]
        admin_insecure: bool,
        /// Run until every source is empty and nothing is in flight, then exit 0 and print
        /// what each pipe moved (a redrive or a replay).
        #[arg(long)]
        until_empty: bool,
        /// Pipe files or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Check pipe files without connecting anywhere.
    Validate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Test one event pattern against one JSON event (like EventBridge TestEventPattern):
    /// prints `true` or `false`, or exits 1 for an invalid pattern or event.
    Match {
        /// The pattern, as JSON.
        #[arg(long)]
        pattern: String,
        /// The event, a JSON object.
        #[arg(long)]
        event: String,
    },
    /// Print the JSON Schema of a pipe document.
    Schema,
    /// Turn AWS definitions (event source mappings, pipes, CloudFormation/SAM) into pipe YAML.
    Import {
        /// JSON or YAML files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn parse_shutdown_timeout(s: &str) -> Result<HumanDuration, String> {
    let d = HumanDuration::parse(s)?;
    if d.0 > std::time::Duration::from_secs(3600) {
        return Err(format!("found {d}, allowed 0s..1h"));
    }
    Ok(d)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { paths } => match load::load(&paths) {
            Ok(pipes) => {
                for p in pipes {
                    println!("{}: pipe {:?} is valid", p.file.display(), p.config.name);
                }
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for e in errors {
                    eprintln!("{e}");
                }
                ExitCode::FAILURE
            }
        },
        Command::Match { pattern, event } => {
            match sluice_core::pattern::test_event_pattern(&pattern, &event) {
                Ok(m) => {
                    println!("{m}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Import { files } => import::run(&files),
        Command::Schema => {
            let schema = schemars::schema_for!(config::PipeConfig);
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Command::Run {
            admin_addr,
            shutdown_timeout,
            admin_token_file,
            admin_insecure,
            until_empty,
            paths,
        } => {
            let token = match admin::token(admin_token_file.as_deref()) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            if token.is_none() && !admin_addr.ip().is_loopback() && !admin_insecure {
                eprintln!(
                    "--admin-addr {admin_addr} is not a loopback address and no admin token is set: \
                     anyone who reaches it could read and stop pipes. Give --admin-token-file \
                     (or SLUICE_ADMIN_TOKEN), or --admin-insecure to accept that."
                );
                return ExitCode::from(2);
            }
            stack::ensure_large_stacks();
            logging::init();
            if token.is_none() {
                tracing::warn!(%admin_addr, "the admin API is open: no admin token is set (--admin-token-file or SLUICE_ADMIN_TOKEN)");
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_stack_size(stack::THREAD_STACK)
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let code = runtime.block_on(run::run(
                paths,
                admin_addr,
                shutdown_timeout.0,
                token,
                until_empty,
            ));
            // Tasks still closing after the bounded drain are not waited for.
            runtime.shutdown_timeout(std::time::Duration::from_millis(200));
            code
        }
    }
}
