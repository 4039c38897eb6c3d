//! Users and routing: users (version-locked PATCH), skills, languages, a user's routing
//! skills/languages, and agent utilization.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Params, json};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::model::{Listing, MEDIA_TYPES, NamedEntity, User, Utilization, org_default_utilization};
use crate::store::Store;

/// Maximum routing languages per bulk PATCH (documented); skills use the same bound.
const MAX_BULK: usize = 50;

fn get_user<'a>(store: &'a Store, id: &str) -> ApiResult<&'a User> {
    store
        .users
        .get(id)
        .ok_or_else(|| ApiError::not_found("user", id))
}

/// `GET /api/v2/users` (paged; `id` filter; `state` filter, default active).
pub(crate) async fn list_users(
    State(sh): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Listing<User>>> {
    let q = Params::parse(q);
    let (size, number) = q.paging(500)?;
    let ids = q.all("id");
    let state = q.get("state").unwrap_or("active").to_string();
    let store = sh.store();
    let all: Vec<User> = store
        .users
        .values()
        .filter(|u| ids.is_empty() || ids.contains(&u.id))
        .filter(|u| state == "any" || u.state == state)
        .cloned()
        .collect();
    Ok(Json(Listing::page(&all, size, number, "/api/v2/users")))
}

/// `GET /api/v2/users/{userId}`.
pub(crate) async fn get_user_h(
    State(sh): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(get_user(&sh.store(), &id)?.clone()))
}

/// Fields `PATCH /api/v2/users/{id}` may change: the SDK's `UpdateUser` model
/// (PureCloudPlatformClientV2 269.0.0 `models/update_user.py`) minus the ones handled apart
/// (id, version, selfUri, username — ignored — and manager, email, state).
const UPDATABLE: [&str; 18] = [
    "name",
    "chat",
    "department",
    "email",
    "primaryContactInfo",
    "addresses",
    "title",
    "preferredName",
    "manager",
    "images",
    "profileSkills",
    "locations",
    "groups",
    "state",
    "acdAutoAnswer",
    "certifications",
    "biography",
    "employerInfo",
];

/// `PATCH /api/v2/users/{userId}`: partial update; `version` required (400), must match (409).
pub(crate) async fn patch_user(
    State(sh): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<User>> {
    let patch: Map<String, Value> = json(&body, "UpdateUser")?;
    let Some(version) = patch.get("version").and_then(Value::as_i64) else {
        return Err(ApiError::invalid_value(
            "version",
            format!(
                "user '{id}': version is required; GET the user for its current version before PATCH"
            ),
        ));
    };
    let mut store = sh.store();
    let current = get_user(&store, &id)?.clone();
    if version != current.version {
        return Err(ApiError::version_conflict(
            "user",
            &id,
            version,
            current.version,
        ));
    }
    let mut v = serde_json::to_value(&current).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("user is not an object"))?;
    if let Some(state) = patch.get("state") {
        match state.as_str() {
            Some("active" | "inactive" | "deleted") => {
                obj.insert("state".into(), state.clone());
            }
            _ => {
                return Err(ApiError::invalid_value(
                    "state",
                    format!("user '{id}': state {state} must be active, inactive or deleted"),
                ));
            }
        }
    } else {
        for (k, val) in &patch {
            match k.as_str() {
                "id" | "version" | "selfUri" | "username" => {}
                "email"
                    if current
                        .email
                        .as_ref()
                        .is_some_and(|e| Some(e.as_str()) != val.as_str()) =>
                {
                    return Err(ApiError::invalid_value(
                        "email",
                        format!("user '{id}': the primary email cannot be changed"),
                    ));
                }
                // UpdateUser takes the manager's user id; User returns a reference object.
                "manager" => match val.as_str() {
                    Some(m) if store.users.contains_key(m) => {
                        obj.insert(
                            "manager".into(),
                            json!({"id": m, "selfUri": format!("/api/v2/users/{m}")}),
                        );
                    }
                    Some(m) => {
                        return Err(ApiError::invalid_value(
                            "manager",
                            format!("user '{id}': manager '{m}' is not a user of this org"),
                        ));
                    }
                    None if val.is_null() => {
                        obj.remove("manager");
                    }
                    None => {
                        return Err(ApiError::invalid_value(
                            "manager",
                            format!("user '{id}': manager must be a user id string"),
                        ));
                    }
                },
                k if UPDATABLE.contains(&k) => {
                    obj.insert(k.to_string(), val.clone());
                }
                k => {
                    return Err(ApiError::invalid_value(
                        k,
                        format!("user '{id}': '{k}' is not a field of UpdateUser"),
                    ));
                }
            }
        }
    }
    obj.insert("version".into(), json!(current.version + 1));
    let user: User = serde_json::from_value(v)
        .map_err(|e| ApiError::bad_request(format!("user '{id}': {e}")))?;
    store.users.insert(id, user.clone());
    Ok(Json(user))
}

fn named_listing(
    map: &BTreeMap<String, NamedEntity>,
    q: Params,
    base: &str,
) -> ApiResult<Json<Listing<NamedEntity>>> {
    let (size, number) = q.paging(500)?;
    let name = q
        .get("name")
        .map(|n| n.trim_end_matches('*').to_lowercase());
    let ids = q.all("id");
    let all: Vec<NamedEntity> = map
        .values()
        .filter(|e| ids.is_empty() || ids.contains(&e.id))
        .filter(|e| {
            name.as_ref()
                .is_none_or(|n| e.name.to_lowercase().starts_with(n))
        })
        .cloned()
        .collect();
    Ok(Json(Listing::page(&all, size, number, base)))
}

/// `GET /api/v2/routing/skills`.
pub(crate) async fn list_skills(
    State(sh): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Listing<NamedEntity>>> {
    named_listing(
        &sh.store().skills,
        Params::parse(q),
        "/api/v2/routing/skills",
    )
}

/// `GET /api/v2/routing/languages`.
pub(crate) async fn list_languages(
    State(sh): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Listing<NamedEntity>>> {
    named_listing(
        &sh.store().languages,
        Params::parse(q),
        "/api/v2/routing/languages",
    )
}

/// `UserRoutingSkillPost` / `UserRoutingLanguagePost`.
#[derive(Deserialize)]
struct ProficiencyPost {
    id: String,
    proficiency: f64,
}

fn entries(
    map: &BTreeMap<String, NamedEntity>,
    assigned: &BTreeMap<String, f64>,
    uri: &str,
) -> Vec<Value> {
    assigned
        .iter()
        .map(|(id, p)| {
            let name = map.get(id).map(|e| e.name.clone()).unwrap_or_default();
            json!({"id": id, "name": name, "proficiency": p, "state": "active", uri: format!("/api/v2/routing/{}/{id}", if uri == "skillUri" { "skills" } else { "languages" })})
        })
        .collect()
}

fn page_values(all: Vec<Value>, q: Params, base: &str) -> ApiResult<Json<Listing<Value>>> {
    let (size, number) = q.paging(100)?;
    Ok(Json(Listing::page(&all, size, number, base)))
}

/// Which routing attribute a handler works on.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Skill,
    Language,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Skill => "skill",
            Kind::Language => "language",
        }
    }
    fn uri(self) -> &'static str {
        match self {
            Kind::Skill => "skillUri",
            Kind::Language => "languageUri",
        }
    }
    fn catalog(self, store: &Store) -> &BTreeMap<String, NamedEntity> {
        match self {
            Kind::Skill => &store.skills,
            Kind::Language => &store.languages,
        }
    }
    fn assigned(self, store: &mut Store) -> &mut BTreeMap<String, BTreeMap<String, f64>> {
        match self {
            Kind::Skill => &mut store.user_skills,
            Kind::Language => &mut store.user_languages,
        }
    }
    fn base(self, user: &str) -> String {
        match self {
            Kind::Skill => format!("/api/v2/users/{user}/routingskills"),
            Kind::Language => format!("/api/v2/users/{user}/routinglanguages"),
        }
    }
}

fn parse_posts(
    kind: Kind,
    store: &Store,
    user: &str,
    body: &[u8],
) -> ApiResult<Vec<ProficiencyPost>> {
    let posts: Vec<ProficiencyPost> = json(
        body,
        if matches!(kind, Kind::Skill) {
            "UserRoutingSkillPost[]"
        } else {
            "UserRoutingLanguagePost[]"
        },
    )?;
    if posts.len() > MAX_BULK {
        return Err(ApiError::invalid_value(
            "body",
            format!(
                "user '{user}': {} {}s exceed the maximum of {MAX_BULK} per request",
                posts.len(),
                kind.what()
            ),
        ));
    }
    for (i, p) in posts.iter().enumerate() {
        if !kind.catalog(store).contains_key(&p.id) {
            return Err(ApiError::invalid_value(
                format!("[{i}].id"),
                format!("user '{user}': {} '{}' does not exist", kind.what(), p.id),
            ));
        }
        if !(0.0..=5.0).contains(&p.proficiency) || !p.proficiency.is_finite() {
            return Err(ApiError::invalid_value(
                format!("[{i}].proficiency"),
                format!(
                    "user '{user}': proficiency {} for {} '{}' must be between 0 and 5",
                    p.proficiency,
                    kind.what(),
                    p.id
                ),
            ));
        }
    }
    Ok(posts)
}

fn listing_for(kind: Kind, store: &mut Store, user: &str) -> Vec<Value> {
    let assigned = kind.assigned(store).get(user).cloned().unwrap_or_default();
    entries(kind.catalog(store), &assigned, kind.uri())
}

/// `GET /api/v2/users/{userId}/routingskills|routinglanguages`.
pub(crate) async fn get_assigned(
    kind: Kind,
    sh: AppState,
    user: String,
    q: Option<String>,
) -> ApiResult<Json<Listing<Value>>> {
    let mut store = sh.store();
    get_user(&store, &user)?;
    let all = listing_for(kind, &mut store, &user);
    page_values(all, Params::parse(q), &kind.base(&user))
}

/// Bulk write: `replace` = PUT (skills only), else PATCH (merge by id).
pub(crate) async fn bulk(
    kind: Kind,
    replace: bool,
    sh: AppState,
    user: String,
    body: Bytes,
) -> ApiResult<Json<Listing<Value>>> {
    let mut store = sh.store();
    get_user(&store, &user)?;
    let posts = parse_posts(kind, &store, &user, &body)?;
    let map = kind.assigned(&mut store).entry(user.clone()).or_default();
    if replace {
        map.clear();
    }
    for p in posts {
        map.insert(p.id, p.proficiency);
    }
    let all = listing_for(kind, &mut store, &user);
    let n = all.len().max(1);
    Ok(Json(Listing::page(&all, n, 1, &kind.base(&user))))
}

/// `DELETE /api/v2/users/{userId}/routingskills/{skillId}` (and languages).
pub(crate) async fn delete_one(
    kind: Kind,
    sh: AppState,
    user: String,
    id: String,
) -> ApiResult<Response> {
    let mut store = sh.store();
    get_user(&store, &user)?;
    let removed = kind
        .assigned(&mut store)
        .get_mut(&user)
        .and_then(|m| m.remove(&id));
    if removed.is_none() {
        return Err(ApiError::not_found(kind.what(), &id));
    }
    Ok(StatusCode::OK.into_response())
}

// ---------------------------------------------------------------- utilization

fn utilization_response(u: &Utilization, level: &str) -> Value {
    let mut v = serde_json::to_value(u).unwrap_or_else(|_| json!({}));
    v["level"] = json!(level);
    v
}

/// `GET /api/v2/routing/users/{userId}/utilization` (falls back to the org default).
pub(crate) async fn get_utilization(
    State(sh): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<Json<Value>> {
    let store = sh.store();
    get_user(&store, &user)?;
    Ok(Json(match store.utilization.get(&user) {
        Some(u) => utilization_response(u, "Agent"),
        None => utilization_response(&org_default_utilization(), "Organization"),
    }))
}

/// `PUT /api/v2/routing/users/{userId}/utilization`: omitted media types take the org default.
pub(crate) async fn put_utilization(
    State(sh): State<AppState>,
    Path(user): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let req: Utilization = json(&body, "UtilizationRequest")?;
    for (media, m) in &req.utilization {
        if !MEDIA_TYPES.contains(&media.as_str()) {
            return Err(ApiError::invalid_value(
                format!("utilization.{media}"),
                format!(
                    "user '{user}': unknown media type '{media}' (known: {})",
                    MEDIA_TYPES.join(", ")
                ),
            ));
        }
        if m.maximum_capacity > 25 {
            return Err(ApiError::invalid_value(
                format!("utilization.{media}.maximumCapacity"),
                format!(
                    "user '{user}': maximumCapacity {} for {media} must be 0–25",
                    m.maximum_capacity
                ),
            ));
        }
        if let Some(bad) = m
            .interruptable_media_types
            .iter()
            .find(|t| !MEDIA_TYPES.contains(&t.as_str()))
        {
            return Err(ApiError::invalid_value(
                format!("utilization.{media}.interruptableMediaTypes"),
                format!("user '{user}': unknown interruptable media type '{bad}'"),
            ));
        }
    }
    let mut store = sh.store();
    get_user(&store, &user)?;
    let mut full = org_default_utilization();
    full.utilization.extend(req.utilization);
    full.label_utilizations = req.label_utilizations;
    full.max_inbound_calls = req.max_inbound_calls;
    store.utilization.insert(user, full.clone());
    Ok(Json(utilization_response(&full, "Agent")))
}

/// `DELETE /api/v2/routing/users/{userId}/utilization`: back to the org default.
pub(crate) async fn delete_utilization(
    State(sh): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    let mut store = sh.store();
    get_user(&store, &user)?;
    store.utilization.remove(&user);
    Ok(StatusCode::NO_CONTENT.into_response())
}
