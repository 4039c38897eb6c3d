//! `dialsync plugin new NAME --lang rust|python|js`: writes a ready plugin
//! project outside this repository — the WIT contract vendored at the version
//! the project targets, the SDK for its language, an example mapping that
//! follows the rules (stable externalId, phones through the host, field
//! errors), fixtures with their golden outcomes, and a build command — that
//! builds and passes `dialsync plugin test --expect` as generated.
//!
//! Every file is embedded in the binary from this repository (the SDKs, the
//! WIT, the templates under `templates/`), so what a project gets is exactly
//! what this `dialsync` was built and tested with. A Rust project vendors the
//! SDK (and the phone crate its native test host uses) under `vendor/` and
//! gets this workspace's `Cargo.lock`, so it builds offline from crates
//! already in the cargo registry cache.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The contract version projects are generated against.
pub const CONTRACT: &str = "v0.1.0";

/// The language of a new plugin project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Rust with the dialsync plugin SDK (cargo, wasm32-wasip2).
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with @bytecodealliance/componentize-js.
    Js,
}

/// Why a project could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// The name is not usable as a plugin and package name.
    #[error(
        "plugin name {0:?}: use 1 to 40 lowercase letters, digits and dashes, starting with a letter"
    )]
    BadName(String),
    /// The target directory exists and is not empty.
    #[error("{0}: the directory exists and is not empty")]
    NotEmpty(PathBuf),
    /// Writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What was created and how to use it.
#[derive(Debug, Clone, Serialize)]
pub struct NewProject {
    /// The project directory.
    pub dir: PathBuf,
    /// The language.
    pub lang: Lang,
    /// Files written, relative to `dir`.
    pub files: Vec<PathBuf>,
    /// The command that builds the component (run in `dir`).
    pub build: String,
    /// The component the build writes, relative to `dir`.
    pub wasm: PathBuf,
    /// The command that checks it against the fixtures (run in `dir`).
    pub test: String,
}

const WIT: &str = include_str!("../../../../wit/v0.1.0/plugin.wit");
const RECORD_SCHEMA: &str = include_str!("templates/common/record.schema.json");
const CONFIG_SCHEMA: &str = include_str!("templates/common/config.schema.json");
const RECORDS: &str = include_str!("templates/common/records.json");
const EXPECTED: &str = include_str!("templates/common/expected.jsonl");
const README: &str = include_str!("templates/common/README.md");

/// The Rust SDK, vendored file by file.
const RUST_SDK: &[(&str, &str)] = &[
    (
        "src/bindings.rs",
        include_str!("../../../../plugins/sdk/src/bindings.rs"),
    ),
    (
        "src/convert.rs",
        include_str!("../../../../plugins/sdk/src/convert.rs"),
    ),
    (
        "src/external_id.rs",
        include_str!("../../../../plugins/sdk/src/external_id.rs"),
    ),
    (
        "src/host.rs",
        include_str!("../../../../plugins/sdk/src/host.rs"),
    ),
    (
        "src/json.rs",
        include_str!("../../../../plugins/sdk/src/json.rs"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../../plugins/sdk/src/lib.rs"),
    ),
    (
        "src/mapper.rs",
        include_str!("../../../../plugins/sdk/src/mapper.rs"),
    ),
    (
        "src/native.rs",
        include_str!("../../../../plugins/sdk/src/native.rs"),
    ),
    (
        "src/record.rs",
        include_str!("../../../../plugins/sdk/src/record.rs"),
    ),
    (
        "src/salesforce.rs",
        include_str!("../../../../plugins/sdk/src/salesforce.rs"),
    ),
    (
        "src/servicenow.rs",
        include_str!("../../../../plugins/sdk/src/servicenow.rs"),
    ),
    (
        "src/time.rs",
        include_str!("../../../../plugins/sdk/src/time.rs"),
    ),
    (
        "src/types.rs",
        include_str!("../../../../plugins/sdk/src/types.rs"),
    ),
    (
        "src/wasm.rs",
        include_str!("../../../../plugins/sdk/src/wasm.rs"),
    ),
    ("Cargo.toml", include_str!("templates/rust/sdk.Cargo.toml")),
];
const PHONE_LIB: &str = include_str!("../../../phone/src/lib.rs");
const PHONE_CARGO: &str = include_str!("templates/rust/phone.Cargo.toml");
const WORKSPACE_LOCK: &str = include_str!("../../../../Cargo.lock");

/// Whether `name` works as a plugin name, a cargo package and an npm package.
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 40
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !name.ends_with('-')
}

/// The files of a `lang` project named `name`: (relative path, contents, executable).
fn files(name: &str, lang: Lang) -> Vec<(String, String, bool)> {
    let fill = |text: &str| text.replace("{{name}}", name);
    let mut out: Vec<(String, String, bool)> = vec![
        (format!("wit/{CONTRACT}/plugin.wit"), WIT.to_string(), false),
        (
            "schema/record.schema.json".into(),
            fill(RECORD_SCHEMA),
            false,
        ),
        (
            "schema/config.schema.json".into(),
            fill(CONFIG_SCHEMA),
            false,
        ),
        ("fixtures/records.json".into(), RECORDS.to_string(), false),
        (
            "fixtures/expected.jsonl".into(),
            EXPECTED.to_string(),
            false,
        ),
    ];
    let (build, wasm) = build_command(name, lang);
    let readme = fill(README)
        .replace("{{lang}}", lang.display_name())
        .replace("{{build}}", &build)
        .replace("{{wasm}}", &wasm)
        .replace("{{layout}}", layout(lang));
    out.push(("README.md".into(), readme, false));
    match lang {
        Lang::Rust => {
            out.push((
                "Cargo.toml".into(),
                fill(include_str!("templates/rust/Cargo.toml")),
                false,
            ));
            out.push(("Cargo.lock".into(), WORKSPACE_LOCK.to_string(), false));
            out.push((
                "src/lib.rs".into(),
                fill(include_str!("templates/rust/lib.rs")),
                false,
            ));
            for (path, text) in RUST_SDK {
                out.push((
                    format!("vendor/dialsync-plugin-sdk/{path}"),
                    text.to_string(),
                    false,
                ));
            }
            out.push((
                "vendor/dialsync-phone/Cargo.toml".into(),
                PHONE_CARGO.to_string(),
                false,
            ));
            out.push((
                "vendor/dialsync-phone/src/lib.rs".into(),
                PHONE_LIB.to_string(),
                false,
            ));
            out.push((".gitignore".into(), "/target\n".into(), false));
        }
        Lang::Python => {
            out.push((
                "app.py".into(),
                fill(include_str!("templates/python/app.py")),
                false,
            ));
            out.push((
                "dialsync_sdk.py".into(),
                include_str!("../../../../plugins/sdk-py/dialsync_sdk.py").into(),
                false,
            ));
            out.push((
                "build.sh".into(),
                include_str!("templates/python/build.sh").into(),
                true,
            ));
            out.push((
                "requirements.txt".into(),
                include_str!("../../../../plugins/toolchains/requirements.txt").into(),
                false,
            ));
            out.push((".gitignore".into(), "*.wasm\n__pycache__/\n".into(), false));
        }
        Lang::Js => {
            out.push((
                "plugin.js".into(),
                fill(include_str!("templates/js/plugin.js")),
                false,
            ));
            out.push((
                "dialsync_sdk.js".into(),
                include_str!("../../../../plugins/sdk-js/dialsync_sdk.js").into(),
                false,
            ));
            out.push((
                "build.mjs".into(),
                include_str!("templates/js/build.mjs").into(),
                false,
            ));
            out.push((
                "package.json".into(),
                fill(include_str!("templates/js/package.json")),
                false,
            ));
            out.push((".gitignore".into(), "*.wasm\nnode_modules/\n".into(), false));
        }
    }
    out
}

impl Lang {
    /// `Rust`, `Python` or `JavaScript`.
    pub fn display_name(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }
}

fn layout(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => {
            "- `src/lib.rs` — the mapping (`cargo test` runs its unit tests natively)\n\
             - `vendor/dialsync-plugin-sdk` — the Rust SDK (and `vendor/dialsync-phone`, the phone normaliser its native test host uses)"
        }
        Lang::Python => {
            "- `app.py` — the mapping\n\
             - `dialsync_sdk.py` — the Python SDK (externalId, ChangeBuilder, field errors, timestamps, the component glue)\n\
             - `requirements.txt` — the pinned componentize-py"
        }
        Lang::Js => {
            "- `plugin.js` — the mapping\n\
             - `dialsync_sdk.js` — the JavaScript SDK (externalId, ChangeBuilder, field errors, timestamps, the component glue)\n\
             - `build.mjs`, `package.json` — rolldown bundles, componentize-js builds (pinned versions)"
        }
    }
}

/// The build command and the component it writes.
fn build_command(name: &str, lang: Lang) -> (String, String) {
    match lang {
        Lang::Rust => (
            "cargo build --offline --release --target wasm32-wasip2".into(),
            format!(
                "target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ),
        ),
        Lang::Python => ("./build.sh".into(), "plugin.wasm".into()),
        Lang::Js => ("npm install && node build.mjs".into(), "plugin.wasm".into()),
    }
}

/// Writes a new `lang` plugin project named `name` into `dir` (created; it
/// must not exist or be empty).
pub fn create(name: &str, lang: Lang, dir: &Path) -> Result<NewProject, NewError> {
    if !valid_name(name) {
        return Err(NewError::BadName(name.to_string()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NewError::Io { path, source }
    };
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
        if entries.next().is_some() {
            return Err(NewError::NotEmpty(dir.to_path_buf()));
        }
    }
    let mut written = Vec::new();
    for (relative, contents, executable) in files(name, lang) {
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, contents).map_err(io(&path))?;
        if executable {
            make_executable(&path).map_err(io(&path))?;
        }
        written.push(PathBuf::from(relative));
    }
    let (build, wasm) = build_command(name, lang);
    let test = format!(
        "dialsync plugin test {wasm} fixtures/records.json --expect fixtures/expected.jsonl"
    );
    Ok(NewProject {
        dir: dir.to_path_buf(),
        lang,
        files: written,
        build,
        wasm: PathBuf::from(wasm),
        test,
    })
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path)?.permissions();
    permissions.set_mode(permissions.mode() | 0o111);
    std::fs::set_permissions(path, permissions)
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["acme", "acme-crm", "crm2"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "Acme",
            "2crm",
            "acme_crm",
            "acme-",
            "a/b",
            &"x".repeat(41),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn refuses_a_non_empty_directory_and_writes_every_language() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep"), "x").unwrap();
        assert!(matches!(
            create("acme", Lang::Rust, dir.path()),
            Err(NewError::NotEmpty(_))
        ));
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let target = dir.path().join(format!("{lang:?}"));
            let project = create("acme-crm", lang, &target).unwrap();
            assert!(target.join("wit/v0.1.0/plugin.wit").is_file());
            assert!(target.join("fixtures/expected.jsonl").is_file());
            let readme = std::fs::read_to_string(target.join("README.md")).unwrap();
            assert!(readme.contains(&project.build), "{readme}");
            assert!(!readme.contains("{{"), "{readme}");
        }
    }
}
