//! `dialsync plugin ...`: try a plugin on a records file, and manage the local
//! plugin registry (install, list, info, remove).
//!
//! `plugin test` streams the records file chunk by chunk (any size, bounded
//! memory) through [`crate::plugin_test`] and prints one JSON object per line on
//! stdout — the outcome lines documented at [`crate::plugin_test::outcome_lines`].
//! Plugin logs and a summary go to stderr; `--json` prints the summary as JSON
//! on stdout instead of the outcome lines. `--expect FILE` compares the outcome
//! lines with a golden file (a readable diff, exit code 1 on any difference),
//! `--update` rewrites it, `--profile N` names the N most expensive records.
//!
//! The exit code is non-zero when the plugin or the records file cannot be used,
//! or when the outcomes differ from `--expect`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Subcommand};
use dialsync_plugin_host::{CompileCache, Limits, LoadedPlugin, Runtime};
use serde_json::{Map, Value, json};

use crate::plugin_new::Lang;
use crate::plugin_registry::{PluginSource, Registry};
use crate::plugin_test::{Event, ExpectReport, TestOptions, TestReport, test_file};

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
        /// Records per guest call.
        #[arg(long, default_value_t = crate::plugin_test::DEFAULT_CHUNK, value_parser = clap::value_parser!(usize))]
        chunk: usize,
        /// Golden outcome lines (JSON Lines as printed by `plugin test`) to compare
        /// with; any difference is shown and makes the exit code 1.
        #[arg(long, value_name = "FILE")]
        expect: Option<PathBuf>,
        /// Rewrite the --expect file with this run's outcome lines.
        #[arg(long, requires = "expect")]
        update: bool,
        /// Print the run's summary as JSON on stdout instead of the outcome lines.
        #[arg(long)]
        json: bool,
        /// Map each record in its own call and name the N most expensive ones.
        #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "10")]
        profile: Option<usize>,
    },
    /// Start a new plugin project (WIT, SDK, example mapping, fixtures with
    /// golden outcomes, build command) that builds and passes its own tests.
    New {
        /// The plugin's name (lowercase letters, digits, dashes).
        name: String,
        /// The language of the project.
        #[arg(long, value_enum)]
        lang: Lang,
        /// Where to create it (default `./NAME`); must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
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
                chunk,
                expect,
                update,
                json,
                profile,
            } => {
                let options = TestOptions {
                    chunk,
                    expect,
                    update,
                    profile,
                };
                let loaded = load(&runtime()?, &registry, &plugin, parse_config(&config)?).await?;
                test(&loaded, &records, &options, json).await
            }
            Command::Install { file, config } => {
                install(&runtime()?, &registry, &file, &config).await
            }
            Command::List => list(&runtime()?, &registry).await,
            Command::Info { plugin } => info(&runtime()?, &registry, &plugin).await,
            Command::New { name, lang, dir } => {
                let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
                let project = crate::plugin_new::create(&name, lang, &dir)?;
                println!(
                    "created a {} plugin project in {} ({} files)\n\n  cd {}\n  {}\n  {}",
                    lang.display_name(),
                    project.dir.display(),
                    project.files.len(),
                    project.dir.display(),
                    project.build,
                    project.test
                );
                Ok(())
            }
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
    plugin: &LoadedPlugin,
    path: &Path,
    options: &TestOptions,
    json_summary: bool,
) -> anyhow::Result<()> {
    let id = plugin.info().id();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut write_error = None;
    let report = test_file(plugin, path, options, |event| match event {
        Event::Log(line) => eprintln!("[{id} {}] {}", line.level, line.message),
        Event::Outcome { lines, .. } if !json_summary && write_error.is_none() => {
            for line in lines {
                if let Err(e) = writeln!(stdout, "{line}") {
                    write_error = Some(e);
                    break;
                }
            }
        }
        Event::Outcome { .. } => {}
    })
    .await?;
    if let Some(e) = write_error {
        return Err(e).context("writing to stdout");
    }
    if report.logs_dropped > 0 {
        eprintln!("[{id}] {} more log lines dropped", report.logs_dropped);
    }
    if json_summary {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    }
    stdout.flush().context("writing to stdout")?;
    drop(stdout);
    eprintln!("{}", summary(&report));
    if let Some(slowest) = &report.slowest {
        eprintln!("most expensive records (fuel, wall time incl. a fresh instance):");
        for s in slowest {
            eprintln!(
                "  record {:>8}  {:>12} fuel  {:>8} µs  {}",
                s.index, s.fuel, s.micros, s.outcome
            );
        }
    }
    if let Some(updated) = &report.updated {
        eprintln!(
            "wrote the outcomes of {} records to {}",
            report.records,
            updated.display()
        );
    }
    if let Some(expect) = &report.expect {
        print_expect(expect, report.updated.is_some());
        if !report.passed() {
            bail!(
                "{} of {} records differ from {}{}",
                expect.mismatched,
                report.records,
                expect.file.display(),
                if expect.extra_expected > 0 {
                    format!(
                        " and it has {} records more than the input",
                        expect.extra_expected
                    )
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}

fn print_expect(expect: &ExpectReport, updating: bool) {
    let shown = expect.diffs.len() as u64;
    for d in &expect.diffs {
        eprintln!("record {} differs from {}:", d.index, expect.file.display());
        for line in &d.differences {
            eprintln!("    {line}");
        }
    }
    if expect.mismatched > shown {
        eprintln!(
            "... and {} more records differ (first {shown} shown)",
            expect.mismatched - shown
        );
    }
    if expect.passed() {
        eprintln!(
            "all {} records match {}",
            expect.matched,
            expect.file.display()
        );
    } else if updating {
        eprintln!(
            "{} records changed; {} rewritten",
            expect.mismatched + expect.extra_expected,
            expect.file.display()
        );
    }
}

fn summary(report: &TestReport) -> String {
    let o = &report.outcomes;
    format!(
        "{}: {} records: {} change, {} skip, {} reject, {} failed in {:.1} ms ({:.1} µs/record, {} guest calls); fuel {}; peak guest memory {} KiB{}",
        report.plugin,
        report.records,
        o.change,
        o.skip,
        o.reject,
        o.failed,
        report.elapsed_ms,
        report.micros_per_record,
        report.guest_calls,
        report.fuel_used,
        report.peak_guest_memory_bytes / 1024,
        report
            .peak_host_rss_bytes
            .map(|b| format!("; peak host RSS {} MiB", b >> 20))
            .unwrap_or_default(),
    )
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
