//! The `wesh` binary: parses the command line and hands each command to the shell's roles
//! (`wesh-shell`, node/) or to the harness (`wesh-testnet`, testnet/).

use clap::Parser;
use std::process::ExitCode;
mod api_cli;
mod cli;
mod sim_cli;
mod sim_plot;
mod status;

use cli::{BenchCommand, Cli, Command};
use wesh_shell::cli::PkiCommand;
use wesh_shell::topology_file::Role;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Mix(_) | Command::Provider(_) | Command::Client(_) | Command::Issuer(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // logs go to stderr: stdout carries results (--json)
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // colour only for a person at a terminal, never into log files
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Command::Config(cli::ConfigCommand::Example { role }) = &cli.command {
        return match wesh_config::example::example(role) {
            Some(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("error: {role} reads no config file");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Sim(args) = cli.command {
        return finish(sim_cli::sim(args).map_err(Failure::from));
    }
    if let Command::Id(args) = cli.command {
        return finish(wesh_shell::roles::mix_provider::print_id(args).map_err(Failure::from));
    }
    if let Command::Inbox(args) = &cli.command
        && args.raw
    {
        return finish(
            wesh_shell::roles::client::show_inbox(wesh_shell::roles::client::InboxArgs {
                data_dir: Some(args.api.data_dir.clone()),
                json: args.api.json,
                delete: args.delete,
            })
            .map_err(Failure::from),
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), Failure> = runtime.block_on(async move {
        match cli.command {
            Command::Mix(args) => {
                Ok(wesh_shell::roles::mix_provider::run_role(Role::Mix, args).await?)
            }
            Command::Provider(args) => {
                Ok(wesh_shell::roles::mix_provider::run_role(Role::Provider, args).await?)
            }
            Command::Testnet(args) => {
                let json = args.json;
                let summary = wesh_testnet::network::run(args).await?;
                if json {
                    println!("{}", serde_json::to_string(&summary)?);
                } else {
                    print!("{}", summary.to_text());
                }
                Ok(())
            }
            Command::Bench(BenchCommand::Mix(args)) => {
                Ok(wesh_testnet::bench_mix::run_mix_bench(args).await?)
            }
            Command::Bench(BenchCommand::Client(args)) => {
                Ok(wesh_testnet::bench_client::run_client_bench(args).await?)
            }
            Command::Pki(PkiCommand::Show(args)) => {
                let dir = wesh_shell::pki::show::show(&args.peer, args.epoch_seconds)
                    .await
                    .map_err(|e| e.to_string())?;
                if args.json {
                    println!("{}", serde_json::to_string(&dir)?);
                } else {
                    print!("{}", dir.to_table());
                }
                Ok(())
            }
            Command::Client(args) => Ok(wesh_shell::roles::client::run_client(args).await?),
            Command::Issuer(args) => Ok(wesh_shell::issuer::role::run_issuer(args).await?),
            Command::Rewards(args) => Ok(wesh_shell::issuer::role::show_rewards(args).await?),
            Command::Contact(args) => Ok(crate::api_cli::contact(args).await?),
            Command::Account(args) => Ok(crate::api_cli::account(args).await?),
            Command::Group(args) => Ok(crate::api_cli::group(args).await?),
            Command::Send(args) => Ok(crate::api_cli::send(args).await?),
            Command::Inbox(args) => Ok(crate::api_cli::inbox(args).await?),
            Command::Status(args) => Ok(crate::status::status(args).await?),
            Command::Id(_) | Command::Config(_) | Command::Sim(_) => Ok(()),
        }
    });
    // background tasks may still hold sockets; leave without waiting for them
    runtime.shutdown_background();
    finish(result)
}

/// Whatever went wrong, as its own error type says it.
type Failure = Box<dyn std::error::Error>;

fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
