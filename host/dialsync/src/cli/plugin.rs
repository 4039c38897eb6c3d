//! `dialsync plugin ...`: try a plugin on a records file, and manage the local
//! plugin registry (install, list, info, remove).
//!
//! `plugin test` prints one JSON object per line on stdout. Each has `index`
//! (the record's position, from 0) and `outcome`:
//! - `change`: `externalId`, `operation` (`upsert`|`do-not-call`|`remove`),
//!   `partial`, `callable`, `sourceUpdatedAt`, and `data` — the contact row
//!   exactly as sent to Genesys (data columns, phone columns, `externalId`).
//!   A source event touching several records prints one line per change, all
//!   with the same `index` and a `change` ordinal (0, 1, ...).
//! - `skip`: `reason`.
//! - `reject`: `errors`, each `{field, code, message}` with `field` a JSON pointer.
//! - `failed`: `plugin`, `limit` (the limit or rule broken) and `message`.
//!
//! Plugin logs and a summary go to stderr. The exit code is non-zero only when
//! the plugin or the records file cannot be used.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use clap::{Args as ClapArgs, Subcommand};
use dialsync_plugin_host::{CompileCache, Limits, LoadedPlugin, MapReport, RecordOutcome, Runtime};
use serde_json::{Map, Value, json};

use crate::plugin_registry::{PluginSource, Registry};

/// Try plugins on records and manage installed plugins.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Registry directory (default `$HOME/.local/share/dialsync`). Compiled
    /// plugin code is cached in `<home>/cache/wasmtime` (without a home:
    /// `$HOME/.cache/dialsync/wasmtime`).
    #[arg(long, env = "DIALSYNC_HOME", global = true)]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Map a records file with a plugin and print one JSON line per outcome.
    Test {
        /// A bundled or installed plugin name, or a path to a .wasm component.
        plugin: String,
        /// JSON array, JSON Lines, one object, or a ServiceNow `{"result": [...]}`
        /// / Salesforce `{"records": [...]}` envelope.
        records: PathBuf,
        /// Plugin configuration `key=value` (value parsed as JSON when it is JSON, else a string).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
    },
    /// Check a plugin component and add it to the local registry.
    Install {
        /// The .wasm component.
        file: PathBuf,
        /// Configuration to validate the plugin with, `key=value`.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
    },
    /// List bundled and installed plugins.
    List,
    /// Show a plugin's description: version, columns, schemas, actions.
    Info {
        /// A bundled or installed plugin name, or a .wasm path.
        plugin: String,
    },
    /// Remove an installed plugin.
    Remove {
        /// The installed plugin's name.
        name: String,
    },
}

/// Runs `dialsync plugin ...`.
pub fn run(args: Args) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: Args) -> anyhow::Result<()> {
    let (home, compile_cache) = match args.home {
        Some(home) => {
            let cache = CompileCache::Dir(home.join("cache").join("wasmtime"));
            (home, cache)
        }
        None => (Registry::default_home()?, CompileCache::Default),
    };
    let registry = Registry::new(&home);
    let runtime = || runtime(compile_cache.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    rt.block_on(async move {
        match args.command {
            Command::Test {
                plugin,
                records,
                config,
            } => test(&runtime()?, &registry, &plugin, &records, &config).await,
            Command::Install { file, config } => {
                install(&runtime()?, &registry, &file, &config).await
            }
            Command::List => list(&runtime()?, &registry).await,
            Command::Info { plugin } => info(&runtime()?, &registry, &plugin).await,
            Command::Remove { name } => {
                let removed = registry.remove(&name)?;
                println!(
                    "removed {} {} ({})",
                    removed.name, removed.version, removed.sha256
                );
                Ok(())
            }
        }
    })
}

fn runtime(compile_cache: CompileCache) -> anyhow::Result<Runtime> {
    Ok(Runtime::new(Limits {
        compile_cache,
        ..Limits::default()
    })?)
}

/// `key=value` pairs into a config object; values that parse as JSON are JSON.
fn parse_config(pairs: &[String]) -> anyhow::Result<Value> {
    let mut map = Map::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("--config {pair:?}: expected KEY=VALUE");
        };
        if key.is_empty() {
            bail!("--config {pair:?}: the key is empty");
        }
        let value =
            serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        map.insert(key.to_string(), value);
    }
    Ok(Value::Object(map))
}

async fn load(
    runtime: &Runtime,
    registry: &Registry,
    reference: &str,
    config: Value,
) -> anyhow::Result<LoadedPlugin> {
    let resolved = registry.resolve(reference)?;
    runtime
        .load(&resolved.bytes, config)
        .await
        .with_context(|| format!("loading plugin `{reference}`"))
}

async fn test(
    runtime: &Runtime,
    registry: &Registry,
    reference: &str,
    path: &Path,
    config: &[String],
) -> anyhow::Result<()> {
    let records = read_records(path)?;
    let plugin = load(runtime, registry, reference, parse_config(config)?).await?;
    let started = Instant::now();
    let report = plugin.map_with_report(&records, None).await;
    let elapsed = started.elapsed();
    for line in &report.logs {
        eprintln!("[{} {}] {}", plugin.info().id(), line.level, line.message);
    }
    if report.logs_dropped > 0 {
        eprintln!(
            "[{}] {} more log lines dropped",
            plugin.info().id(),
            report.logs_dropped
        );
    }
    for (index, outcome) in report.outcomes.iter().enumerate() {
        for line in outcome_lines(index, outcome) {
            println!("{line}");
        }
    }
    eprintln!("{}", summary(&plugin, &report, elapsed));
    Ok(())
}

pub(crate) fn outcome_lines(index: usize, outcome: &RecordOutcome) -> Vec<Value> {
    match outcome {
        RecordOutcome::Change { changes } => changes
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let mut line = json!({
                    "index": index,
                    "outcome": "change",
                    "externalId": c.external_id,
                    "operation": c.operation.as_str(),
                    "partial": c.partial,
                    "callable": c.callable,
                    "sourceUpdatedAt": c.source_updated_at,
                    "data": c.row(),
                });
                if changes.len() > 1 {
                    line["change"] = json!(k);
                }
                line
            })
            .collect(),
        RecordOutcome::Skip { reason } => {
            vec![json!({"index": index, "outcome": "skip", "reason": reason})]
        }
        RecordOutcome::Reject { errors } => {
            vec![json!({"index": index, "outcome": "reject", "errors": errors})]
        }
        RecordOutcome::Failed(f) => vec![json!({
            "index": index,
            "outcome": "failed",
            "plugin": f.plugin,
            "limit": f.kind.as_str(),
            "message": f.message,
        })],
    }
}

fn summary(plugin: &LoadedPlugin, report: &MapReport, elapsed: std::time::Duration) -> String {
    let (mut change, mut skip, mut reject, mut failed) = (0, 0, 0, 0);
    for o in &report.outcomes {
        match o {
            RecordOutcome::Change { .. } => change += 1,
            RecordOutcome::Skip { .. } => skip += 1,
            RecordOutcome::Reject { .. } => reject += 1,
            RecordOutcome::Failed(_) => failed += 1,
        }
    }
    format!(
        "{}: {} records: {change} change, {skip} skip, {reject} reject, {failed} failed in {:.1} ms; fuel {}; peak memory {} KiB",
        plugin.info().id(),
        report.outcomes.len(),
        elapsed.as_secs_f64() * 1000.0,
        report.stats.fuel_used,
        report.stats.peak_memory_bytes / 1024,
    )
}

/// Reads a records file in any of the accepted shapes; errors name the file and line.
fn read_records(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_records(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

pub(crate) fn parse_records(text: &str) -> Result<Vec<Value>, String> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err("the file is empty".into());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(records)) => Ok(records),
        Ok(Value::Object(mut object)) => {
            for envelope in ["result", "records"] {
                if let Some(Value::Array(records)) = object.remove(envelope) {
                    return Ok(records);
                }
            }
            Ok(vec![Value::Object(object)])
        }
        Ok(other) => Err(format!(
            "expected records (an array or objects), found {}",
            kind(&other)
        )),
        // Not one JSON document: JSON Lines, unless it is clearly a broken array.
        Err(e) if trimmed.starts_with('[') => {
            Err(format!("line {} column {}: {e}", e.line(), e.column()))
        }
        Err(_) => {
            let mut records = Vec::new();
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let value: Value = serde_json::from_str(line).map_err(|e| {
                    let message = e.to_string();
                    // serde_json appends its own position within the line.
                    let reason = message
                        .rsplit_once(" at line ")
                        .map_or(message.as_str(), |(r, _)| r);
                    format!("line {} column {}: {reason}", n + 1, e.column())
                })?;
                records.push(value);
            }
            Ok(records)
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

async fn install(
    runtime: &Runtime,
    registry: &Registry,
    file: &Path,
    config: &[String],
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let plugin = runtime
        .load(&bytes, parse_config(config)?)
        .await
        .with_context(|| format!("refusing to install {}", file.display()))?;
    let entry = registry.install(&plugin.info().name, &plugin.info().version, &bytes)?;
    println!(
        "installed {} {} ({})",
        entry.name, entry.version, entry.sha256
    );
    Ok(())
}

async fn list(runtime: &Runtime, registry: &Registry) -> anyhow::Result<()> {
    println!("{:<16} {:<10} {:<10} SHA256", "NAME", "VERSION", "SOURCE");
    for (name, bytes) in dialsync_bundled_plugins::bundled() {
        match runtime.inspect(bytes).await {
            Ok((info, sha)) => {
                println!("{:<16} {:<10} {:<10} {sha}", name, info.version, "bundled")
            }
            Err(e) => println!("{:<16} {:<10} {:<10} unusable: {e}", name, "-", "bundled"),
        }
    }
    for entry in registry.list()? {
        println!(
            "{:<16} {:<10} {:<10} {}",
            entry.name, entry.version, "installed", entry.sha256
        );
    }
    Ok(())
}

async fn info(runtime: &Runtime, registry: &Registry, reference: &str) -> anyhow::Result<()> {
    let resolved = registry.resolve(reference)?;
    let (info, sha256) = runtime
        .inspect(&resolved.bytes)
        .await
        .with_context(|| format!("loading plugin `{reference}`"))?;
    let source = match &resolved.source {
        PluginSource::Bundled => json!("bundled"),
        PluginSource::Installed(e) => json!({"installed": e.installed_at}),
        PluginSource::File(p) => json!({"file": p}),
    };
    let mut out = serde_json::to_value(&info)?;
    out["sha256"] = json!(sha256);
    out["source"] = source;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_every_shape() {
        assert_eq!(parse_records(r#"[{"a":1},{"a":2}]"#).unwrap().len(), 2);
        assert_eq!(
            parse_records("{\"a\":1}\n\n{\"a\":2}\n{\"a\":3}\n")
                .unwrap()
                .len(),
            3
        );
        assert_eq!(parse_records(r#"{"a":1}"#).unwrap(), vec![json!({"a": 1})]);
        assert_eq!(
            parse_records(r#"{"result":[{"sys_id":"x"}]}"#).unwrap(),
            vec![json!({"sys_id": "x"})]
        );
        assert_eq!(
            parse_records(r#"{"totalSize":1,"done":true,"records":[{"Id":"x"}]}"#).unwrap(),
            vec![json!({"Id": "x"})]
        );
    }

    #[test]
    fn bad_records_name_the_line() {
        let err = parse_records("{\"a\":1}\n{\"a\":\n").unwrap_err();
        assert!(err.starts_with("line 2 "), "{err}");
        let err = parse_records("[\n{\"a\":1},\n{oops}\n]").unwrap_err();
        assert!(err.starts_with("line 3 "), "{err}");
        assert!(parse_records("   ").is_err());
        assert!(parse_records("42").is_err());
    }

    #[test]
    fn config_pairs() {
        let config = parse_config(&[
            "default_region=US".into(),
            "retries=3".into(),
            "x={\"a\":true}".into(),
        ])
        .unwrap();
        assert_eq!(
            config,
            json!({"default_region": "US", "retries": 3, "x": {"a": true}})
        );
        assert!(parse_config(&["nokey".into()]).is_err());
    }
}
