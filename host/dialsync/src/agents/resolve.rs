//! Turning plan entries (users by id or email, skills and languages by name) into
//! [`Target`]s with Genesys ids, reporting every name the org does not know — all before
//! anything is written.
//!
//! Names match exactly first, then without regard to case when that is unambiguous, because
//! admins type "sales" for the skill "Sales" and Genesys names are unique per org anyway.

use std::collections::{BTreeMap, HashMap};

use dialsync_genesys::{GenesysClient, GenesysError, Language, RoutingSkill, User};

use super::plan::{AgentEntry, MediaSetting, Plan, PlanIssue, SkillsMode};

/// The org's users, skills and languages, for name and email lookups.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    /// Lower-cased email → user id.
    emails: HashMap<String, String>,
    /// User id → display name (for reports).
    ids: HashMap<String, Option<String>>,
    skills: NameIndex,
    languages: NameIndex,
}

/// Name → id lookups with an exact and a case-insensitive index.
#[derive(Clone, Debug, Default)]
struct NameIndex {
    exact: HashMap<String, String>,
    folded: HashMap<String, Vec<(String, String)>>,
}

impl NameIndex {
    fn insert(&mut self, id: &str, name: &str) {
        self.exact.insert(name.to_string(), id.to_string());
        self.folded
            .entry(name.to_lowercase())
            .or_default()
            .push((id.to_string(), name.to_string()));
    }

    /// The id of `name`, or why there is none.
    fn find(&self, name: &str, what: &str) -> Result<String, String> {
        if let Some(id) = self.exact.get(name) {
            return Ok(id.clone());
        }
        match self.folded.get(&name.to_lowercase()).map(Vec::as_slice) {
            Some([(id, _)]) => Ok(id.clone()),
            Some(many) if many.len() > 1 => Err(format!(
                "{what} {name:?} is ambiguous: matches {}",
                many.iter()
                    .map(|(_, n)| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => Err(format!("unknown {what} {name:?} (not in the org)")),
        }
    }
}

impl Directory {
    /// Builds the lookups from what the org listed.
    pub fn new(users: &[User], skills: &[RoutingSkill], languages: &[Language]) -> Self {
        let mut dir = Directory::default();
        for u in users {
            if u.state.as_deref() == Some("deleted") {
                continue;
            }
            if let Some(email) = &u.email {
                dir.emails.insert(email.to_lowercase(), u.id.clone());
            }
            dir.ids.insert(u.id.clone(), u.name.clone());
        }
        for s in skills
            .iter()
            .filter(|s| s.state.as_deref() != Some("deleted"))
        {
            if let Some(name) = &s.name {
                dir.skills.insert(&s.id, name);
            }
        }
        for l in languages
            .iter()
            .filter(|l| l.state.as_deref() != Some("deleted"))
        {
            if let Some(name) = &l.name {
                dir.languages.insert(&l.id, name);
            }
        }
        dir
    }

    /// Lists the org's users, skills and languages (all pages) and indexes them.
    pub async fn fetch(client: &GenesysClient) -> Result<Directory, GenesysError> {
        let (users, skills, languages) = futures::try_join!(
            client.list_users(),
            client.list_routing_skills(),
            client.list_routing_languages()
        )?;
        Ok(Directory::new(&users, &skills, &languages))
    }

    /// The user id for an id or an email.
    fn user_id(&self, user: &str) -> Result<String, String> {
        if self.ids.contains_key(user) {
            return Ok(user.to_string());
        }
        if user.contains('@') {
            return self
                .emails
                .get(&user.to_lowercase())
                .cloned()
                .ok_or_else(|| format!("unknown agent email {user:?} (no such user in the org)"));
        }
        Err(format!(
            "unknown agent id {user:?} (no such user in the org)"
        ))
    }
}

/// A skill or language to hold, by id, with its name for reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Proficiency {
    /// Display name from the plan.
    pub name: String,
    /// 0–5.
    pub proficiency: f64,
}

/// Desired skills by id.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetSkills {
    /// Replace or add.
    pub mode: SkillsMode,
    /// Skill id → desired proficiency.
    pub skills: BTreeMap<String, Proficiency>,
}

/// Desired user fields (`PATCH /api/v2/users/{id}`); `None` means leave alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetFields {
    /// Department.
    pub department: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Preferred name.
    pub preferred_name: Option<String>,
    /// Manager's user id.
    pub manager_id: Option<String>,
    /// ACD auto-answer.
    pub acd_auto_answer: Option<bool>,
}

impl TargetFields {
    /// True when the plan sets no user field.
    pub fn is_empty(&self) -> bool {
        *self == TargetFields::default()
    }
}

/// One agent's desired state with Genesys ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Where the entry is in the plan.
    pub location: String,
    /// The agent as the plan names it.
    pub user: String,
    /// Genesys user id.
    pub user_id: String,
    /// User fields.
    pub fields: TargetFields,
    /// Skills, when managed.
    pub skills: Option<TargetSkills>,
    /// Languages by id, when managed.
    pub languages: Option<BTreeMap<String, Proficiency>>,
    /// Whether `languages` is the agent's exact set (replace) or only added.
    pub languages_mode: SkillsMode,
    /// Utilization per media type, when managed.
    pub utilization: Option<BTreeMap<String, MediaSetting>>,
}

/// Resolves every entry; returns the targets of the entries without problems and the
/// problems of the others (unknown users, skills, languages, managers; one agent planned
/// twice under different spellings).
pub fn resolve(plan: &Plan, dir: &Directory) -> (Vec<Target>, Vec<PlanIssue>) {
    let mut targets = Vec::new();
    let mut issues = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for entry in &plan.agents {
        let before = issues.len();
        let mut issue = |field: &str, reason: String| {
            issues.push(PlanIssue {
                location: entry.location.clone(),
                user: Some(entry.user.clone()),
                field: field.to_string(),
                reason,
            })
        };
        let user_id = dir.user_id(&entry.user).map_err(|r| issue("user", r)).ok();
        if let Some(id) = &user_id {
            if let Some(prev) = seen.get(id) {
                issue(
                    "user",
                    format!("duplicate agent: user {id} is already planned at {prev}"),
                );
            } else {
                seen.insert(id.clone(), entry.location.clone());
            }
        }
        let manager_id = entry
            .manager
            .as_deref()
            .and_then(|m| dir.user_id(m).map_err(|r| issue("manager", r)).ok());
        let skills = entry.skills.as_ref().map(|spec| TargetSkills {
            mode: spec.mode,
            skills: by_id(&spec.skills, &dir.skills, "skill", "skills", &mut issue),
        });
        let languages = entry
            .languages
            .as_ref()
            .map(|l| by_id(l, &dir.languages, "language", "languages", &mut issue));
        if issues.len() == before
            && let Some(user_id) = user_id
        {
            targets.push(target(entry, user_id, manager_id, skills, languages));
        }
    }
    (targets, issues)
}

fn by_id(
    named: &BTreeMap<String, f64>,
    index: &NameIndex,
    what: &str,
    field: &str,
    issue: &mut impl FnMut(&str, String),
) -> BTreeMap<String, Proficiency> {
    let mut out = BTreeMap::new();
    for (name, proficiency) in named {
        match index.find(name, what) {
            Ok(id) => {
                let prof = Proficiency {
                    name: name.clone(),
                    proficiency: *proficiency,
                };
                if let Some(prev) = out.insert(id, prof) {
                    issue(
                        &format!("{field}.{name}"),
                        format!("same {what} as {:?} (names differ only in case)", prev.name),
                    );
                }
            }
            Err(reason) => issue(&format!("{field}.{name}"), reason),
        }
    }
    out
}

fn target(
    entry: &AgentEntry,
    user_id: String,
    manager_id: Option<String>,
    skills: Option<TargetSkills>,
    languages: Option<BTreeMap<String, Proficiency>>,
) -> Target {
    Target {
        location: entry.location.clone(),
        user: entry.user.clone(),
        user_id,
        fields: TargetFields {
            department: entry.department.clone(),
            title: entry.title.clone(),
            preferred_name: entry.preferred_name.clone(),
            manager_id,
            acd_auto_answer: entry.acd_auto_answer,
        },
        skills,
        languages,
        languages_mode: entry.languages_mode,
        utilization: entry.utilization.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::plan::PlanFormat;

    fn user(id: &str, email: &str) -> User {
        User {
            id: id.into(),
            email: Some(email.into()),
            ..User::default()
        }
    }

    fn dir() -> Directory {
        Directory::new(
            &[user("u1", "Ann@x.test"), user("u2", "bob@x.test")],
            &[
                RoutingSkill {
                    id: "s1".into(),
                    name: Some("Sales".into()),
                    ..Default::default()
                },
                RoutingSkill {
                    id: "s2".into(),
                    name: Some("Billing".into()),
                    ..Default::default()
                },
            ],
            &[Language {
                id: "l1".into(),
                name: Some("English".into()),
                ..Default::default()
            }],
        )
    }

    #[test]
    fn resolves_emails_ids_and_names_case_insensitively() {
        let plan = Plan::parse(
            r#"{"agents":[{"user":"ann@x.test","manager":"u2","skills":{"sales":3},"languages":{"English":5}}]}"#,
            PlanFormat::Json,
        )
        .plan;
        let (targets, issues) = resolve(&plan, &dir());
        assert_eq!(issues, vec![]);
        assert_eq!(targets[0].user_id, "u1");
        assert_eq!(targets[0].fields.manager_id.as_deref(), Some("u2"));
        assert_eq!(
            targets[0].skills.as_ref().unwrap().skills["s1"].proficiency,
            3.0
        );
        assert_eq!(
            targets[0].languages.as_ref().unwrap()["l1"].proficiency,
            5.0
        );
    }

    #[test]
    fn every_unknown_name_and_id_duplicate_is_reported() {
        let plan = Plan::parse(
            r#"{"agents":[{"user":"u1","skills":{"Sailing":3,"Billing":1}},
                          {"user":"ann@x.test","languages":{"Klingon":5}},
                          {"user":"nobody@x.test","manager":"ghost"}]}"#,
            PlanFormat::Json,
        )
        .plan;
        let (targets, issues) = resolve(&plan, &dir());
        let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert!(targets.is_empty(), "{targets:?}");
        assert_eq!(issues.len(), 5, "{text:?}");
        assert!(
            text.contains(
                &r#"agents[0] (u1): skills.Sailing: unknown skill "Sailing" (not in the org)"#
                    .to_string()
            ),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("agents[1] (ann@x.test): user: duplicate agent: user u1")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t
                    .starts_with("agents[1] (ann@x.test): languages.Klingon: unknown language")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("agents[2] (nobody@x.test): user: unknown agent email")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("agents[2] (nobody@x.test): manager: unknown agent id")),
            "{text:?}"
        );
    }
}
