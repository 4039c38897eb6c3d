//! `dialsync actions export`: writes, per data action, the `PostActionInput` JSON a
//! Genesys Cloud admin imports as a custom action (built-ins always; with `--config`,
//! also the actions the sources' plugins declare, and the credential style from
//! `[server.actions_auth]`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::{Config, WebhookScheme};
use crate::plugin_registry::Registry;
use crate::server::contracts::{self, Contract};
use crate::server::export::{self, CredentialStyle};

/// `dialsync actions` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Write one importable custom-action JSON file per data action.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// Where Genesys Cloud reaches dialsync (public https URL in production).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// Output folder (created if missing).
    #[arg(long, default_value = "data-actions")]
    out: PathBuf,
    /// Config whose sources' plugin actions and `[server.actions_auth]` are used.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Plugin registry directory (with --config).
    #[arg(long)]
    home: Option<PathBuf>,
}

/// Runs `dialsync actions ...`.
pub fn run(args: Args) -> ExitCode {
    let Sub::Export(args) = args.command;
    match export_all(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn export_all(args: ExportArgs) -> anyhow::Result<()> {
    url::Url::parse(&args.base_url).with_context(|| format!("--base-url {:?}", args.base_url))?;
    let mut all = contracts::builtins();
    let mut style = CredentialStyle::Bearer;
    if let Some(path) = &args.config {
        let config = Config::load(path)?;
        if let Some(auth) = &config.server.actions_auth
            && auth.scheme == WebhookScheme::Basic
        {
            style = CredentialStyle::Basic;
        }
        all.extend(plugin_contracts(&config, args.home.clone())?);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for contract in &all {
        let problems = contracts::genesys_rule_violations(contract);
        if !problems.is_empty() {
            anyhow::bail!(
                "action {} cannot be imported into Genesys Cloud: {}",
                contract.name,
                problems.join("; ")
            );
        }
        let file = args.out.join(format!("{}.json", contract.name));
        let json = export::post_action_input(contract, &args.base_url, style);
        std::fs::write(&file, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write {}", file.display()))?;
        println!("{}", file.display());
    }
    Ok(())
}

fn plugin_contracts(config: &Config, home: Option<PathBuf>) -> anyhow::Result<Vec<Contract>> {
    let home = match home {
        Some(h) => h,
        None => Registry::default_home()?,
    };
    let registry = Registry::new(&home);
    let rt = tokio::runtime::Runtime::new()?;
    let runtime = dialsync_plugin_host::Runtime::new(dialsync_plugin_host::Limits::default())?;
    let mut out = Vec::new();
    for (name, source) in &config.sources {
        let slot = rt
            .block_on(crate::server::state::load_plugin(
                &runtime,
                &registry,
                &source.plugin,
                source.config.clone(),
            ))
            .map_err(|e| anyhow::anyhow!("sources.{name}.plugin: {e}"))?;
        for a in &slot.plugin.info().actions {
            out.push(Contract {
                name: format!("{name}.{}", a.name),
                description: a.description.clone(),
                input: a.input_schema.clone(),
                output: a.output_schema.clone(),
            });
        }
    }
    Ok(out)
}
