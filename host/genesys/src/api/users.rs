//! Users and routing (`/api/v2/users…`, `/api/v2/routing…`): the versioned user PATCH and the
//! unversioned skills, languages and utilization endpoints used by `dialsync agents apply`.

use reqwest::Method;

use super::contacts::merge_by_id;
use crate::client::{Call, GenesysClient};
use crate::error::GenesysError;
use crate::model::{
    EntityListing, Language, RoutingSkill, UpdateUser, User, UserRoutingLanguage,
    UserRoutingLanguagePost, UserRoutingSkill, UserRoutingSkillPost, Utilization,
};

/// Languages per `PATCH …/routinglanguages/bulk` (documented maximum).
const LANGUAGES_PER_CALL: usize = 50;

const USER: &str = "/api/v2/users/{userId}";
const SKILLS_BULK: &str = "/api/v2/users/{userId}/routingskills/bulk";
const LANGUAGES_BULK: &str = "/api/v2/users/{userId}/routinglanguages/bulk";
const UTILIZATION: &str = "/api/v2/routing/users/{userId}/utilization";
const SKILL: &str = "/api/v2/users/{userId}/routingskills/{skillId}";
const LANGUAGE: &str = "/api/v2/users/{userId}/routinglanguages/{languageId}";

impl GenesysClient {
    /// One user (with its current `version`).
    pub async fn get_user(&self, id: &str) -> Result<User, GenesysError> {
        let url = self.url(&["api", "v2", "users", id]);
        self.call_json(Call {
            method: Method::GET,
            route: USER,
            url,
            body: None,
        })
        .await
    }

    /// Partially updates a user. `update.version` must be the user's current version; a
    /// stale one answers [`GenesysError::Conflict`] (re-read and re-apply).
    pub async fn patch_user(&self, id: &str, update: &UpdateUser) -> Result<User, GenesysError> {
        let url = self.url(&["api", "v2", "users", id]);
        let body = Self::json_body(USER, update)?;
        self.call_json(Call {
            method: Method::PATCH,
            route: USER,
            url,
            body,
        })
        .await
    }

    /// Every user (all pages), e.g. to map emails to ids.
    pub async fn list_users(&self) -> Result<Vec<User>, GenesysError> {
        self.all_pages("/api/v2/users", &["api", "v2", "users"])
            .await
    }

    /// Every routing skill of the org.
    pub async fn list_routing_skills(&self) -> Result<Vec<RoutingSkill>, GenesysError> {
        self.all_pages(
            "/api/v2/routing/skills",
            &["api", "v2", "routing", "skills"],
        )
        .await
    }

    /// Every routing language of the org.
    pub async fn list_routing_languages(&self) -> Result<Vec<Language>, GenesysError> {
        self.all_pages(
            "/api/v2/routing/languages",
            &["api", "v2", "routing", "languages"],
        )
        .await
    }

    /// A user's skills (all pages).
    pub async fn get_user_routing_skills(
        &self,
        user_id: &str,
    ) -> Result<Vec<UserRoutingSkill>, GenesysError> {
        self.all_pages(
            "/api/v2/users/{userId}/routingskills",
            &["api", "v2", "users", user_id, "routingskills"],
        )
        .await
    }

    /// Replaces a user's skills with exactly `skills` (`PUT …/routingskills/bulk`).
    pub async fn put_user_routing_skills(
        &self,
        user_id: &str,
        skills: &[UserRoutingSkillPost],
    ) -> Result<Vec<UserRoutingSkill>, GenesysError> {
        self.skills_bulk(Method::PUT, user_id, skills).await
    }

    /// Adds or updates `skills`, keeping the user's others (`PATCH …/routingskills/bulk`).
    pub async fn patch_user_routing_skills(
        &self,
        user_id: &str,
        skills: &[UserRoutingSkillPost],
    ) -> Result<Vec<UserRoutingSkill>, GenesysError> {
        self.skills_bulk(Method::PATCH, user_id, skills).await
    }

    async fn skills_bulk(
        &self,
        method: Method,
        user_id: &str,
        skills: &[UserRoutingSkillPost],
    ) -> Result<Vec<UserRoutingSkill>, GenesysError> {
        let url = self.url(&["api", "v2", "users", user_id, "routingskills", "bulk"]);
        let body = Self::json_body(SKILLS_BULK, skills)?;
        let listing: EntityListing<UserRoutingSkill> = self
            .call_json(Call {
                method,
                route: SKILLS_BULK,
                url,
                body,
            })
            .await?;
        Ok(listing.entities)
    }

    /// A user's languages (all pages).
    pub async fn get_user_routing_languages(
        &self,
        user_id: &str,
    ) -> Result<Vec<UserRoutingLanguage>, GenesysError> {
        self.all_pages(
            "/api/v2/users/{userId}/routinglanguages",
            &["api", "v2", "users", user_id, "routinglanguages"],
        )
        .await
    }

    /// Adds or updates languages (`PATCH …/routinglanguages/bulk`, 50 per call; there is no
    /// replacing PUT). Returns the merged answers, last answer winning per language.
    pub async fn patch_user_routing_languages(
        &self,
        user_id: &str,
        langs: &[UserRoutingLanguagePost],
    ) -> Result<Vec<UserRoutingLanguage>, GenesysError> {
        let mut answers = Vec::new();
        for chunk in langs.chunks(LANGUAGES_PER_CALL) {
            let url = self.url(&["api", "v2", "users", user_id, "routinglanguages", "bulk"]);
            let body = Self::json_body(LANGUAGES_BULK, chunk)?;
            let listing: EntityListing<UserRoutingLanguage> = self
                .call_json(Call {
                    method: Method::PATCH,
                    route: LANGUAGES_BULK,
                    url,
                    body,
                })
                .await?;
            answers.extend(listing.entities);
        }
        Ok(merge_by_id(answers, |l| l.id.as_str()))
    }

    /// Removes one skill from a user (`DELETE /api/v2/users/{userId}/routingskills/{skillId}`,
    /// SDK `UsersApi.delete_user_routingskill`). A skill the user no longer has (404) counts
    /// as removed: the call is idempotent.
    pub async fn delete_user_routing_skill(
        &self,
        user_id: &str,
        skill_id: &str,
    ) -> Result<(), GenesysError> {
        let url = self.url(&["api", "v2", "users", user_id, "routingskills", skill_id]);
        absent_is_ok(
            self.call_empty(Call {
                method: Method::DELETE,
                route: SKILL,
                url,
                body: None,
            })
            .await,
        )
    }

    /// Removes one language from a user (`DELETE
    /// /api/v2/users/{userId}/routinglanguages/{languageId}`, SDK
    /// `UsersApi.delete_user_routinglanguage`; the only way to take a language away, since
    /// languages have no replacing bulk PUT). A language already gone (404) counts as removed.
    pub async fn delete_user_routing_language(
        &self,
        user_id: &str,
        language_id: &str,
    ) -> Result<(), GenesysError> {
        let url = self.url(&[
            "api",
            "v2",
            "users",
            user_id,
            "routinglanguages",
            language_id,
        ]);
        absent_is_ok(
            self.call_empty(Call {
                method: Method::DELETE,
                route: LANGUAGE,
                url,
                body: None,
            })
            .await,
        )
    }

    /// A user's utilization (`level` says whether it is custom or the org default).
    pub async fn get_user_utilization(&self, user_id: &str) -> Result<Utilization, GenesysError> {
        let url = self.url(&["api", "v2", "routing", "users", user_id, "utilization"]);
        self.call_json(Call {
            method: Method::GET,
            route: UTILIZATION,
            url,
            body: None,
        })
        .await
    }

    /// Sets a user's utilization; media types left out revert to the org default. `level`
    /// is read-only and not sent.
    pub async fn put_user_utilization(
        &self,
        user_id: &str,
        utilization: &Utilization,
    ) -> Result<Utilization, GenesysError> {
        let url = self.url(&["api", "v2", "routing", "users", user_id, "utilization"]);
        let request = Utilization {
            level: None,
            ..utilization.clone()
        };
        let body = Self::json_body(UTILIZATION, &request)?;
        self.call_json(Call {
            method: Method::PUT,
            route: UTILIZATION,
            url,
            body,
        })
        .await
    }
}

/// A DELETE whose target is already gone (404) reached the state it wanted.
fn absent_is_ok(result: Result<(), GenesysError>) -> Result<(), GenesysError> {
    match result {
        Err(GenesysError::Rejected(f)) if f.status == 404 => Ok(()),
        other => other,
    }
}
