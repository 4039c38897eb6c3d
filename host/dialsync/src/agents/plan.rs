//! Reading an agents plan (JSON, YAML or CSV) into [`Plan`], with every problem the file
//! itself has reported at once, each naming its entry (`agents[3]` / `line 5`), the field
//! and the reason. Checks that need the org (unknown user, skill, language) live in
//! [`super::resolve`].
//!
//! JSON and YAML are checked against `schemas/agents-plan.schema.json` (embedded) before
//! they are turned into types, so the schema is the format's single description. CSV has
//! no schema; its cells are parsed here with the same rules the schema states.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// The JSON Schema of agents plans, embedded so the binary checks what the docs describe.
pub const PLAN_SCHEMA: &str = include_str!("../../../../schemas/agents-plan.schema.json");

/// Media types Genesys utilization knows (`MediaUtilization` keys and
/// `interruptableMediaTypes` values).
pub const MEDIA_TYPES: [&str; 5] = ["call", "callback", "chat", "email", "message"];

/// One problem with a plan, found before anything is written.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlanIssue {
    /// Where: `agents[3]` (JSON/YAML), `line 5` (CSV) or `plan` for the whole file.
    pub location: String,
    /// The agent as the plan names it, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The field, e.g. `skills.Sales`, `utilization.fax`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for PlanIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location)?;
        if let Some(user) = &self.user {
            write!(f, " ({user})")?;
        }
        write!(f, ": {}: {}", self.field, self.reason)
    }
}

/// Why a plan could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file could not be read.
    #[error("cannot read plan {path}: {source}")]
    Read {
        /// The plan path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The plan has problems; all of them are listed.
    #[error("plan has {} problem(s):\n{}", .0.len(), render(.0))]
    Invalid(Vec<PlanIssue>),
}

fn render(issues: &[PlanIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("  {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How desired skills (or languages) combine with the agent's current ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SkillsMode {
    /// The agent ends with exactly the listed skills.
    #[default]
    Replace,
    /// Listed skills are added or updated; others stay.
    Add,
}

/// Desired settings for one media type; `None` fields keep their current value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaSetting {
    /// Concurrent interactions of this type.
    pub maximum_capacity: Option<u32>,
    /// Media types that may interrupt this one.
    pub interruptable_media_types: Option<Vec<String>>,
    /// Count non-ACD interactions.
    pub include_non_acd: Option<bool>,
}

/// Desired skills of one agent.
#[derive(Clone, Debug, PartialEq)]
pub struct SkillsSpec {
    /// Replace or add.
    pub mode: SkillsMode,
    /// Skill name → proficiency.
    pub skills: BTreeMap<String, f64>,
}

/// The desired state of one agent, as the plan states it (names, not ids).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentEntry {
    /// Where the entry is (`agents[3]` / `line 5`).
    pub location: String,
    /// User id or email.
    pub user: String,
    /// Department.
    pub department: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Preferred name.
    pub preferred_name: Option<String>,
    /// Manager's user id or email.
    pub manager: Option<String>,
    /// ACD auto-answer.
    pub acd_auto_answer: Option<bool>,
    /// Skills, when the plan manages them.
    pub skills: Option<SkillsSpec>,
    /// Language name → proficiency, when the plan manages languages.
    pub languages: Option<BTreeMap<String, f64>>,
    /// Whether the listed languages are the agent's exact set (default) or only added.
    pub languages_mode: SkillsMode,
    /// Media type → settings, when the plan manages utilization.
    pub utilization: Option<BTreeMap<String, MediaSetting>>,
}

/// A parsed plan: one entry per agent, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The entries.
    pub agents: Vec<AgentEntry>,
}

/// Plan file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanFormat {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
    /// CSV, one row per agent.
    Csv,
}

impl PlanFormat {
    /// The format a file name implies (`.json`, `.yaml`/`.yml`, `.csv`).
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "yaml" | "yml" => Some(Self::Yaml),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// A plan as read: the entries that are individually sound, and every problem found.
/// Entries with problems are left out of `plan` but their problems are in `issues`, so the
/// org-level checks can still run on the rest and everything is reported in one go.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// The sound entries, in file order.
    pub plan: Plan,
    /// Every problem found in the file.
    pub issues: Vec<PlanIssue>,
}

impl Plan {
    /// Reads a plan file; the format comes from the extension. Only I/O fails here; the
    /// file's problems are in [`Parsed::issues`].
    pub fn load(path: &Path) -> Result<Parsed, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
            path: path.display().to_string(),
            source,
        })?;
        match PlanFormat::from_path(path) {
            Some(format) => Ok(Plan::parse(&text, format)),
            None => Ok(Parsed {
                plan: Plan::default(),
                issues: vec![whole(
                    "path",
                    format!(
                        "{}: unknown plan format; use .json, .yaml, .yml or .csv",
                        path.display()
                    ),
                )],
            }),
        }
    }

    /// Parses plan text, collecting every problem.
    pub fn parse(text: &str, format: PlanFormat) -> Parsed {
        let mut parsed = match format {
            PlanFormat::Json => match serde_json::from_str::<Value>(text) {
                Ok(value) => from_document(value),
                Err(e) => Parsed {
                    plan: Plan::default(),
                    issues: vec![whole("syntax", e.to_string())],
                },
            },
            PlanFormat::Yaml => match serde_norway::from_str::<Value>(text) {
                Ok(value) => from_document(value),
                Err(e) => Parsed {
                    plan: Plan::default(),
                    issues: vec![whole("syntax", e.to_string())],
                },
            },
            PlanFormat::Csv => from_csv(text),
        };
        let duplicates = duplicate_issues(&parsed.plan);
        parsed.issues.extend(duplicates);
        parsed
    }
}

fn whole(field: &str, reason: impl Into<String>) -> PlanIssue {
    PlanIssue {
        location: "plan".into(),
        user: None,
        field: field.into(),
        reason: reason.into(),
    }
}

/// Same user named twice (by the same spelling; emails compared without case). The same
/// agent named once by id and once by email is caught after resolution.
fn duplicate_issues(plan: &Plan) -> Vec<PlanIssue> {
    let mut first: HashMap<String, &str> = HashMap::new();
    let mut issues = Vec::new();
    for entry in &plan.agents {
        let key = entry.user.to_ascii_lowercase();
        if let Some(prev) = first.get(&key) {
            issues.push(PlanIssue {
                location: entry.location.clone(),
                user: Some(entry.user.clone()),
                field: "user".into(),
                reason: format!("duplicate agent: already planned at {prev}"),
            });
        } else {
            first.insert(key, &entry.location);
        }
    }
    issues
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAgent {
    user: String,
    department: Option<String>,
    title: Option<String>,
    preferred_name: Option<String>,
    manager: Option<String>,
    acd_auto_answer: Option<bool>,
    skills_mode: Option<SkillsMode>,
    skills: Option<BTreeMap<String, f64>>,
    languages_mode: Option<SkillsMode>,
    languages: Option<BTreeMap<String, f64>>,
    utilization: Option<BTreeMap<String, MediaSetting>>,
}

fn schema_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(PLAN_SCHEMA).expect("embedded plan schema is JSON");
    jsonschema::validator_for(&schema).expect("embedded plan schema compiles")
}

/// JSON/YAML: schema first (all violations); entries without violations are then typed.
fn from_document(value: Value) -> Parsed {
    let validator = schema_validator();
    let issues: Vec<PlanIssue> = validator
        .iter_errors(&value)
        .map(|e| schema_issue(&value, e.instance_path.as_str(), &e.to_string()))
        .collect();
    let document_broken = issues.iter().any(|i| !i.location.starts_with("agents["));
    let default_mode = value
        .get("skillsMode")
        .and_then(|m| serde_json::from_value::<SkillsMode>(m.clone()).ok())
        .unwrap_or_default();
    let default_languages_mode = value
        .get("languagesMode")
        .and_then(|m| serde_json::from_value::<SkillsMode>(m.clone()).ok())
        .unwrap_or_default();
    let mut agents = Vec::new();
    let entries = value.get("agents").and_then(Value::as_array);
    if let (false, Some(entries)) = (document_broken, entries) {
        for (i, raw) in entries.iter().enumerate() {
            let location = format!("agents[{i}]");
            if issues.iter().any(|issue| issue.location == location) {
                continue;
            }
            // The schema passed for this entry, so the typed form cannot disagree with it.
            let Ok(a) = serde_json::from_value::<RawAgent>(raw.clone()) else {
                continue;
            };
            agents.push(AgentEntry {
                location,
                user: a.user.trim().to_string(),
                department: a.department,
                title: a.title,
                preferred_name: a.preferred_name,
                manager: a.manager.map(|m| m.trim().to_string()),
                acd_auto_answer: a.acd_auto_answer,
                skills: a.skills.map(|skills| SkillsSpec {
                    mode: a.skills_mode.unwrap_or(default_mode),
                    skills,
                }),
                languages: a.languages,
                languages_mode: a.languages_mode.unwrap_or(default_languages_mode),
                utilization: a.utilization,
            });
        }
    }
    Parsed {
        plan: Plan { agents },
        issues,
    }
}

/// Turns a schema violation at a JSON pointer into an issue naming the entry and field.
fn schema_issue(doc: &Value, pointer: &str, message: &str) -> PlanIssue {
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    if parts.first() == Some(&"agents")
        && let Some(index) = parts.get(1).and_then(|p| p.parse::<usize>().ok())
    {
        let user = doc
            .pointer(&format!("/agents/{index}/user"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let field = if parts.len() > 2 {
            parts[2..].join(".")
        } else {
            "(entry)".into()
        };
        return PlanIssue {
            location: format!("agents[{index}]"),
            user,
            field,
            reason: message.into(),
        };
    }
    let field = if parts.is_empty() {
        "(document)".to_string()
    } else {
        parts.join(".")
    };
    whole(&field, message)
}

/// CSV: header names the columns; empty cells leave that setting alone.
fn from_csv(text: &str) -> Parsed {
    const KNOWN: [&str; 11] = [
        "user",
        "department",
        "title",
        "preferred_name",
        "manager",
        "acd_auto_answer",
        "skills",
        "skills_mode",
        "languages",
        "languages_mode",
        "utilization",
    ];
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|s| s.to_ascii_lowercase().replace('-', "_"))
            .collect(),
        Err(e) => {
            return Parsed {
                plan: Plan::default(),
                issues: vec![whole("header", e.to_string())],
            };
        }
    };
    let mut issues = Vec::new();
    for h in &headers {
        if !KNOWN.contains(&h.as_str()) {
            issues.push(PlanIssue {
                location: "line 1".into(),
                user: None,
                field: h.clone(),
                reason: format!("unknown column; known columns: {}", KNOWN.join(", ")),
            });
        }
    }
    if !headers.iter().any(|h| h == "user") {
        issues.push(PlanIssue {
            location: "line 1".into(),
            user: None,
            field: "user".into(),
            reason: "missing required column".into(),
        });
    }
    if !issues.is_empty() {
        return Parsed {
            plan: Plan::default(),
            issues,
        };
    }
    let mut agents = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                issues.push(PlanIssue {
                    location: format!("line {line}"),
                    user: None,
                    field: "(row)".into(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let cells: HashMap<&str, &str> = headers
            .iter()
            .map(String::as_str)
            .zip(record.iter())
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let mut row = CsvRow {
            location: format!("line {line}"),
            user: None,
            issues: &mut issues,
        };
        if let Some(entry) = row.entry(&cells) {
            agents.push(entry);
        }
    }
    Parsed {
        plan: Plan { agents },
        issues,
    }
}

/// One CSV row being parsed; collects its issues.
struct CsvRow<'a> {
    location: String,
    user: Option<String>,
    issues: &'a mut Vec<PlanIssue>,
}

impl CsvRow<'_> {
    fn issue(&mut self, field: &str, reason: impl Into<String>) {
        self.issues.push(PlanIssue {
            location: self.location.clone(),
            user: self.user.clone(),
            field: field.into(),
            reason: reason.into(),
        });
    }

    fn entry(&mut self, cells: &HashMap<&str, &str>) -> Option<AgentEntry> {
        let before = self.issues.len();
        let Some(user) = cells.get("user") else {
            self.issue("user", "empty: every row needs a user id or email");
            return None;
        };
        self.user = Some(user.to_string());
        let text = |k: &str| cells.get(k).map(|s| s.to_string());
        let acd_auto_answer = match cells.get("acd_auto_answer") {
            None => None,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Some(true),
                "false" | "no" | "0" => Some(false),
                _ => {
                    self.issue("acd_auto_answer", format!("{v:?} is not true/false"));
                    None
                }
            },
        };
        let mode = self.mode(cells, "skills_mode");
        let languages_mode = self.mode(cells, "languages_mode");
        let skills = cells.get("skills").map(|v| SkillsSpec {
            mode,
            skills: self.proficiencies("skills", v),
        });
        let languages = cells
            .get("languages")
            .map(|v| self.proficiencies("languages", v));
        let utilization = cells.get("utilization").map(|v| self.utilization(v));
        (self.issues.len() == before).then(|| AgentEntry {
            location: self.location.clone(),
            user: user.to_string(),
            department: text("department"),
            title: text("title"),
            preferred_name: text("preferred_name"),
            manager: text("manager"),
            acd_auto_answer,
            skills,
            languages,
            languages_mode,
            utilization,
        })
    }

    /// A `replace`/`add` mode cell (empty: replace).
    fn mode(&mut self, cells: &HashMap<&str, &str>, column: &str) -> SkillsMode {
        match cells.get(column) {
            None => SkillsMode::Replace,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "replace" => SkillsMode::Replace,
                "add" => SkillsMode::Add,
                _ => {
                    self.issue(column, format!("{v:?} is not replace or add"));
                    SkillsMode::Replace
                }
            },
        }
    }

    /// `"Sales:4;Billing:2.5"` → {Sales: 4, Billing: 2.5}; names may contain `:` (the last
    /// one separates the proficiency).
    fn proficiencies(&mut self, column: &str, cell: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for item in cell.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((name, value)) = item.rsplit_once(':') else {
                self.issue(column, format!("{item:?}: expected name:proficiency"));
                continue;
            };
            let name = name.trim();
            let field = format!("{column}.{name}");
            match value.trim().parse::<f64>() {
                Ok(p) if (0.0..=5.0).contains(&p) => {
                    if out.insert(name.to_string(), p).is_some() {
                        self.issue(&field, "listed twice");
                    }
                }
                Ok(p) => self.issue(&field, format!("proficiency {p} is outside 0-5")),
                Err(_) => self.issue(
                    &field,
                    format!("proficiency {:?} is not a number", value.trim()),
                ),
            }
        }
        out
    }

    /// `"call:1;email:3"` → maximumCapacity per media type.
    fn utilization(&mut self, cell: &str) -> BTreeMap<String, MediaSetting> {
        let mut out = BTreeMap::new();
        for item in cell.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((media, value)) = item.split_once(':') else {
                self.issue(
                    "utilization",
                    format!("{item:?}: expected mediaType:capacity"),
                );
                continue;
            };
            let media = media.trim().to_ascii_lowercase();
            let field = format!("utilization.{media}");
            if !MEDIA_TYPES.contains(&media.as_str()) {
                self.issue(
                    &field,
                    format!(
                        "unknown media type {media:?}; expected one of {}",
                        MEDIA_TYPES.join(", ")
                    ),
                );
                continue;
            }
            match value.trim().parse::<u32>() {
                Ok(capacity) => {
                    let setting = MediaSetting {
                        maximum_capacity: Some(capacity),
                        ..MediaSetting::default()
                    };
                    if out.insert(media, setting).is_some() {
                        self.issue(&field, "listed twice");
                    }
                }
                Err(_) => self.issue(
                    &field,
                    format!("capacity {:?} is not a non-negative integer", value.trim()),
                ),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(text: &str, format: PlanFormat) -> Vec<PlanIssue> {
        Plan::parse(text, format).issues
    }

    fn clean(text: &str, format: PlanFormat) -> Plan {
        let parsed = Plan::parse(text, format);
        assert_eq!(parsed.issues, vec![]);
        parsed.plan
    }

    #[test]
    fn yaml_plan_parses_with_default_and_entry_skill_modes() {
        let plan = clean(
            "skillsMode: add\nagents:\n  - user: a@x.test\n    department: Sales\n    skills: {Sales: 4}\n  - user: b@x.test\n    skillsMode: replace\n    skills: {Billing: 2.5}\n    languages: {English: 5}\n    utilization:\n      call: {maximumCapacity: 1, interruptableMediaTypes: [email]}\n",
            PlanFormat::Yaml,
        );
        assert_eq!(plan.agents.len(), 2);
        assert_eq!(
            plan.agents[0].skills.as_ref().unwrap().mode,
            SkillsMode::Add
        );
        assert_eq!(
            plan.agents[1].skills.as_ref().unwrap().mode,
            SkillsMode::Replace
        );
        let call = &plan.agents[1].utilization.as_ref().unwrap()["call"];
        assert_eq!(call.maximum_capacity, Some(1));
        assert_eq!(
            call.interruptable_media_types.as_deref(),
            Some(&["email".to_string()][..])
        );
        assert_eq!(plan.agents[1].location, "agents[1]");
    }

    #[test]
    fn json_schema_problems_are_all_reported_with_entry_and_field() {
        let found = issues(
            r#"{"agents":[{"user":"a@x.test","skills":{"Sales":7}},
                          {"user":"b@x.test","utilization":{"fax":{"maximumCapacity":1}}},
                          {"user":"c@x.test","languages":{"English":-1}, "colour":"red"}]}"#,
            PlanFormat::Json,
        );
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert!(
            found
                .iter()
                .any(|i| i.location == "agents[0]" && i.field == "skills.Sales"),
            "{text:?}"
        );
        assert!(
            found
                .iter()
                .any(|i| i.location == "agents[1]" && i.user.as_deref() == Some("b@x.test")),
            "{text:?}"
        );
        assert!(
            found
                .iter()
                .any(|i| i.location == "agents[2]" && i.field == "languages.English"),
            "{text:?}"
        );
        assert!(
            found
                .iter()
                .any(|i| i.location == "agents[2]" && i.reason.contains("colour")),
            "{text:?}"
        );
    }

    #[test]
    fn csv_rows_parse_and_bad_cells_name_line_and_field() {
        let plan = clean(
            "user,department,skills,languages,utilization\na@x.test,Sales,Sales:4;Billing:2,English:5,call:1;email:3\nb@x.test,,,,\n",
            PlanFormat::Csv,
        );
        assert_eq!(plan.agents[0].location, "line 2");
        assert_eq!(
            plan.agents[0].skills.as_ref().unwrap().skills["Billing"],
            2.0
        );
        assert_eq!(
            plan.agents[0].utilization.as_ref().unwrap()["email"].maximum_capacity,
            Some(3)
        );
        assert_eq!(plan.agents[1].department, None);
        assert_eq!(plan.agents[1].skills, None);

        let found = issues(
            "user,skills,utilization\na@x.test,Sales:9,fax:1\nb@x.test,Sales,call:x\n,Sales:1,\na@x.test,,\n",
            PlanFormat::Csv,
        );
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert!(
            text.contains(
                &"line 2 (a@x.test): skills.Sales: proficiency 9 is outside 0-5".to_string()
            ),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("line 2 (a@x.test): utilization.fax: unknown media type")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("line 3 (b@x.test): skills:")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("line 3 (b@x.test): utilization.call: capacity")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with("line 4: user: empty")),
            "{text:?}"
        );
        assert_eq!(found.len(), 5, "{text:?}");
    }

    #[test]
    fn duplicate_agents_are_reported_case_insensitively() {
        let found = issues(
            r#"{"agents":[{"user":"A@x.test"},{"user":"b@x.test"},{"user":"a@X.test"}]}"#,
            PlanFormat::Json,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].location, "agents[2]");
        assert!(found[0].reason.contains("agents[0]"));
    }

    #[test]
    fn unknown_csv_column_is_reported() {
        let found = issues("user,colour\na@x.test,red\n", PlanFormat::Csv);
        assert_eq!(found[0].field, "colour");
    }
}
