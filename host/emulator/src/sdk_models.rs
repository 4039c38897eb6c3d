//! Request-body models of the official Genesys Cloud SDK, as field lists: a body with a
//! field its model does not have answers 400 (Genesys' Jackson-based API rejects
//! unrecognized fields), and every real field is accepted.
//!
//! Source: PureCloudPlatformClientV2 269.0.0 (PyPI), `models/*.py`, the `attribute_map` of
//! each class (wire names), generated once from the installed SDK. Nested models are listed
//! where a request body carries them; deeper ones (and `JsonSchemaDocument`, whose
//! `properties` is free-form JSON Schema) are not checked ([`Ty::Any`]).

use serde_json::Value;

use crate::error::ApiError;

/// A field's type, as far as checking goes.
#[derive(Clone, Copy)]
enum Ty {
    /// Not checked further (scalars, free-form objects, models not listed).
    Any,
    /// One nested model.
    One(&'static str),
    /// An array of a model.
    List(&'static str),
    /// A string-keyed map of a model.
    Map(&'static str),
}

type Model = (&'static str, &'static [(&'static str, Ty)]);

/// Model name → its wire fields (sorted by name for lookup).
static MODELS: &[Model] = &[
    (
        "ActionConfig",
        &[
            ("timeoutSeconds", Ty::Any),
            ("request", Ty::One("RequestConfig")),
            ("response", Ty::One("ResponseConfig")),
        ],
    ),
    (
        "ActionContractInput",
        &[
            ("input", Ty::One("PostInputContract")),
            ("output", Ty::One("PostOutputContract")),
        ],
    ),
    (
        "CallRecord",
        &[("lastAttempt", Ty::Any), ("lastResult", Ty::Any)],
    ),
    (
        "Campaign",
        &[
            ("id", Ty::Any),
            ("name", Ty::Any),
            ("dateCreated", Ty::Any),
            ("dateModified", Ty::Any),
            ("version", Ty::Any),
            ("contactList", Ty::One("DomainEntityRef")),
            ("queue", Ty::One("DomainEntityRef")),
            ("dialingMode", Ty::Any),
            ("script", Ty::One("DomainEntityRef")),
            ("edgeGroup", Ty::One("DomainEntityRef")),
            ("site", Ty::One("DomainEntityRef")),
            ("campaignStatus", Ty::Any),
            ("phoneColumns", Ty::Any),
            ("abandonRate", Ty::Any),
            ("dncLists", Ty::List("DomainEntityRef")),
            ("callableTimeSet", Ty::One("DomainEntityRef")),
            ("callAnalysisResponseSet", Ty::One("DomainEntityRef")),
            ("errors", Ty::Any),
            ("callerName", Ty::Any),
            ("callerAddress", Ty::Any),
            ("outboundLineCount", Ty::Any),
            ("ruleSets", Ty::List("DomainEntityRef")),
            ("skipPreviewDisabled", Ty::Any),
            ("previewTimeOutSeconds", Ty::Any),
            ("alwaysRunning", Ty::Any),
            ("contactSort", Ty::One("ContactSort")),
            ("contactSorts", Ty::List("ContactSort")),
            ("noAnswerTimeout", Ty::Any),
            ("callAnalysisLanguage", Ty::Any),
            ("priority", Ty::Any),
            ("contactListFilters", Ty::List("DomainEntityRef")),
            ("division", Ty::One("DomainEntityRef")),
            ("agentOwnedColumn", Ty::Any),
            ("dynamicContactQueueingSettings", Ty::Any),
            ("skillColumns", Ty::Any),
            ("previewAutoEnd", Ty::Any),
            ("maxCallsPerAgent", Ty::Any),
            ("maxCallsPerAgentDecimal", Ty::Any),
            ("callbackAutoAnswer", Ty::Any),
            ("dynamicLineBalancingSettings", Ty::Any),
            ("diagnosticsSettings", Ty::Any),
            ("preciseDialingEnabled", Ty::Any),
            ("selfUri", Ty::Any),
        ],
    ),
    (
        "CampaignPatchRequest",
        &[
            ("outboundLineCount", Ty::Any),
            ("abandonRate", Ty::Any),
            ("maxCallsPerAgent", Ty::Any),
            ("dynamicLineBalancingSettings", Ty::Any),
            ("queue", Ty::Any),
        ],
    ),
    ("ColumnStatus", &[("contactable", Ty::Any)]),
    ("ConfigurationOverrides", &[("priority", Ty::Any)]),
    (
        "ContactBulkEditRequest",
        &[
            ("contactListFilterId", Ty::Any),
            ("criteria", Ty::One("ContactBulkSearchCriteria")),
            ("contactIds", Ty::Any),
            ("contact", Ty::One("DialerContact")),
            ("generateDownloadURI", Ty::Any),
        ],
    ),
    (
        "ContactBulkSearchCriteria",
        &[
            ("clauses", Ty::List("ContactListFilterClause")),
            ("filterType", Ty::Any),
        ],
    ),
    (
        "ContactBulkSearchParameters",
        &[
            ("contactListFilterId", Ty::Any),
            ("criteria", Ty::One("ContactBulkSearchCriteria")),
            ("generateDownloadURI", Ty::Any),
        ],
    ),
    (
        "ContactList",
        &[
            ("id", Ty::Any),
            ("name", Ty::Any),
            ("dateCreated", Ty::Any),
            ("dateModified", Ty::Any),
            ("version", Ty::Any),
            ("division", Ty::One("DomainEntityRef")),
            ("columnNames", Ty::Any),
            ("phoneColumns", Ty::List("ContactPhoneNumberColumn")),
            ("emailColumns", Ty::List("EmailColumn")),
            ("whatsAppColumns", Ty::List("WhatsAppColumn")),
            ("importStatus", Ty::Any),
            ("previewModeColumnName", Ty::Any),
            ("previewModeAcceptedValues", Ty::Any),
            ("size", Ty::Any),
            ("attemptLimits", Ty::One("DomainEntityRef")),
            ("automaticTimeZoneMapping", Ty::Any),
            ("zipCodeColumnName", Ty::Any),
            ("columnDataTypeSpecifications", Ty::Any),
            ("trimWhitespace", Ty::Any),
            ("retentionType", Ty::Any),
            ("retentionDays", Ty::Any),
            ("dateExpiration", Ty::Any),
            ("timeZone", Ty::Any),
            ("selfUri", Ty::Any),
        ],
    ),
    (
        "ContactListFilterClause",
        &[
            ("filterType", Ty::Any),
            ("predicates", Ty::List("ContactListFilterPredicate")),
        ],
    ),
    (
        "ContactListFilterPredicate",
        &[
            ("column", Ty::Any),
            ("columnType", Ty::Any),
            ("operator", Ty::Any),
            ("value", Ty::Any),
            ("range", Ty::One("ContactListFilterRange")),
            ("inverted", Ty::Any),
        ],
    ),
    (
        "ContactListFilterRange",
        &[
            ("min", Ty::Any),
            ("max", Ty::Any),
            ("minInclusive", Ty::Any),
            ("maxInclusive", Ty::Any),
            ("inSet", Ty::Any),
        ],
    ),
    (
        "ContactListingRequest",
        &[
            ("contactListFilterId", Ty::Any),
            ("criteria", Ty::One("ContactBulkSearchCriteria")),
            ("pageNumber", Ty::Any),
            ("pageSize", Ty::Any),
            ("contactSorts", Ty::List("ContactSort")),
        ],
    ),
    (
        "ContactPhoneNumberColumn",
        &[
            ("columnName", Ty::Any),
            ("type", Ty::Any),
            ("callableTimeColumnName", Ty::Any),
            ("callableTimeColumn", Ty::Any),
        ],
    ),
    (
        "ContactSort",
        &[
            ("fieldName", Ty::Any),
            ("direction", Ty::Any),
            ("numeric", Ty::Any),
        ],
    ),
    (
        "ContactableStatus",
        &[
            ("contactable", Ty::Any),
            ("columnStatus", Ty::Map("ColumnStatus")),
        ],
    ),
    (
        "ContactsExportRequest",
        &[
            ("contactListFilterId", Ty::Any),
            ("criteria", Ty::One("ContactBulkSearchCriteria")),
            ("contactIds", Ty::Any),
        ],
    ),
    (
        "CreateIntegrationRequest",
        &[
            ("id", Ty::Any),
            ("name", Ty::Any),
            ("integrationType", Ty::One("IntegrationType")),
            ("selfUri", Ty::Any),
        ],
    ),
    (
        "DialerContact",
        &[
            ("id", Ty::Any),
            ("name", Ty::Any),
            ("contactListId", Ty::Any),
            ("data", Ty::Any),
            ("callRecords", Ty::Map("CallRecord")),
            ("latestSmsEvaluations", Ty::Any),
            ("latestEmailEvaluations", Ty::Any),
            ("latestWhatsAppEvaluations", Ty::Any),
            ("callable", Ty::Any),
            ("phoneNumberStatus", Ty::Map("PhoneNumberStatus")),
            ("contactableStatus", Ty::Map("ContactableStatus")),
            ("contactColumnTimeZones", Ty::Any),
            ("configurationOverrides", Ty::One("ConfigurationOverrides")),
            ("dateCreated", Ty::Any),
            ("retentionType", Ty::Any),
            ("retentionDays", Ty::Any),
            ("dateExpiration", Ty::Any),
            ("selfUri", Ty::Any),
        ],
    ),
    (
        "DncListCreate",
        &[
            ("id", Ty::Any),
            ("name", Ty::Any),
            ("dateCreated", Ty::Any),
            ("dateModified", Ty::Any),
            ("version", Ty::Any),
            ("importStatus", Ty::Any),
            ("size", Ty::Any),
            ("dncSourceType", Ty::Any),
            ("contactMethod", Ty::Any),
            ("loginId", Ty::Any),
            ("campaignId", Ty::Any),
            ("dncCodes", Ty::Any),
            ("licenseId", Ty::Any),
            ("division", Ty::One("DomainEntityRef")),
            ("customExclusionColumn", Ty::Any),
            ("selfUri", Ty::Any),
        ],
    ),
    (
        "DncPatchPhoneNumbersRequest",
        &[
            ("action", Ty::Any),
            ("phoneNumbers", Ty::Any),
            ("expirationDateTime", Ty::Any),
        ],
    ),
    (
        "DomainEntityRef",
        &[("id", Ty::Any), ("name", Ty::Any), ("selfUri", Ty::Any)],
    ),
    (
        "EmailColumn",
        &[
            ("columnName", Ty::Any),
            ("type", Ty::Any),
            ("contactableTimeColumnName", Ty::Any),
            ("contactableTimeColumn", Ty::Any),
        ],
    ),
    (
        "EmployerInfo",
        &[
            ("officialName", Ty::Any),
            ("employeeId", Ty::Any),
            ("employeeType", Ty::Any),
            ("dateHire", Ty::Any),
        ],
    ),
    (
        "Integration",
        &[
            ("id", Ty::Any),
            ("name", Ty::Any),
            ("integrationType", Ty::One("IntegrationType")),
            ("notes", Ty::Any),
            ("intendedState", Ty::Any),
            ("config", Ty::Any),
            ("reportedState", Ty::Any),
            ("attributes", Ty::Any),
            ("selfUri", Ty::Any),
        ],
    ),
    (
        "IntegrationType",
        &[
            ("id", Ty::Any),
            ("name", Ty::Any),
            ("description", Ty::Any),
            ("provider", Ty::Any),
            ("category", Ty::Any),
            ("images", Ty::Any),
            ("configPropertiesSchemaUri", Ty::Any),
            ("configAdvancedSchemaUri", Ty::Any),
            ("helpUri", Ty::Any),
            ("termsOfServiceUri", Ty::Any),
            ("vendorName", Ty::Any),
            ("vendorWebsiteUri", Ty::Any),
            ("marketplaceUri", Ty::Any),
            ("faqUri", Ty::Any),
            ("privacyPolicyUri", Ty::Any),
            ("supportContactUri", Ty::Any),
            ("salesContactUri", Ty::Any),
            ("helpLinks", Ty::Any),
            ("credentials", Ty::Any),
            ("nonInstallable", Ty::Any),
            ("maxInstances", Ty::Any),
            ("userPermissions", Ty::Any),
            ("vendorOAuthClientIds", Ty::Any),
            ("selfUri", Ty::Any),
        ],
    ),
    (
        "MediaUtilization",
        &[
            ("maximumCapacity", Ty::Any),
            ("interruptableMediaTypes", Ty::Any),
            ("includeNonAcd", Ty::Any),
        ],
    ),
    ("PhoneNumberStatus", &[("callable", Ty::Any)]),
    (
        "PostActionInput",
        &[
            ("category", Ty::Any),
            ("name", Ty::Any),
            ("integrationId", Ty::Any),
            ("config", Ty::One("ActionConfig")),
            ("contract", Ty::One("ActionContractInput")),
            ("secure", Ty::Any),
        ],
    ),
    ("PostInputContract", &[("inputSchema", Ty::Any)]),
    ("PostOutputContract", &[("successSchema", Ty::Any)]),
    ("PublishDraftInput", &[("version", Ty::Any)]),
    (
        "RequestConfig",
        &[
            ("requestUrlTemplate", Ty::Any),
            ("requestTemplate", Ty::Any),
            ("requestTemplateUri", Ty::Any),
            ("requestType", Ty::Any),
            ("headers", Ty::Any),
        ],
    ),
    (
        "ResponseConfig",
        &[
            ("translationMap", Ty::Any),
            ("translationMapDefaults", Ty::Any),
            ("successTemplate", Ty::Any),
            ("successTemplateUri", Ty::Any),
        ],
    ),
    (
        "UpdateActionInput",
        &[
            ("category", Ty::Any),
            ("name", Ty::Any),
            ("config", Ty::One("ActionConfig")),
            ("version", Ty::Any),
        ],
    ),
    (
        "UpdateDraftInput",
        &[
            ("category", Ty::Any),
            ("name", Ty::Any),
            ("config", Ty::One("ActionConfig")),
            ("contract", Ty::One("ActionContractInput")),
            ("secure", Ty::Any),
            ("version", Ty::Any),
        ],
    ),
    (
        "UpdateUser",
        &[
            ("id", Ty::Any),
            ("name", Ty::Any),
            ("chat", Ty::Any),
            ("department", Ty::Any),
            ("email", Ty::Any),
            ("primaryContactInfo", Ty::Any),
            ("addresses", Ty::Any),
            ("title", Ty::Any),
            ("username", Ty::Any),
            ("preferredName", Ty::Any),
            ("manager", Ty::Any),
            ("images", Ty::Any),
            ("version", Ty::Any),
            ("profileSkills", Ty::Any),
            ("locations", Ty::Any),
            ("groups", Ty::Any),
            ("state", Ty::Any),
            ("acdAutoAnswer", Ty::Any),
            ("certifications", Ty::Any),
            ("biography", Ty::Any),
            ("employerInfo", Ty::One("EmployerInfo")),
            ("selfUri", Ty::Any),
        ],
    ),
    (
        "UserRoutingLanguagePost",
        &[
            ("id", Ty::Any),
            ("proficiency", Ty::Any),
            ("languageUri", Ty::Any),
            ("selfUri", Ty::Any),
        ],
    ),
    (
        "UserRoutingSkillPost",
        &[
            ("id", Ty::Any),
            ("proficiency", Ty::Any),
            ("skillUri", Ty::Any),
            ("selfUri", Ty::Any),
        ],
    ),
    (
        "UtilizationRequest",
        &[
            ("utilization", Ty::Map("MediaUtilization")),
            ("labelUtilizations", Ty::Any),
            ("maxInboundCalls", Ty::Any),
        ],
    ),
    (
        "WhatsAppColumn",
        &[
            ("columnName", Ty::Any),
            ("type", Ty::Any),
            ("contactableTimeColumnName", Ty::Any),
            ("contactableTimeColumn", Ty::Any),
        ],
    ),
    (
        "WritableDialerContact",
        &[
            ("id", Ty::Any),
            ("contactListId", Ty::Any),
            ("data", Ty::Any),
            ("latestSmsEvaluations", Ty::Any),
            ("latestEmailEvaluations", Ty::Any),
            ("latestWhatsAppEvaluations", Ty::Any),
            ("callable", Ty::Any),
            ("phoneNumberStatus", Ty::Map("PhoneNumberStatus")),
            ("contactableStatus", Ty::Map("ContactableStatus")),
            ("dateCreated", Ty::Any),
            ("retentionType", Ty::Any),
            ("retentionDays", Ty::Any),
            ("dateExpiration", Ty::Any),
        ],
    ),
];

fn fields(model: &str) -> Option<&'static [(&'static str, Ty)]> {
    MODELS
        .binary_search_by(|(name, _)| (*name).cmp(model))
        .ok()
        .map(|i| MODELS[i].1)
}

/// Whether `what` (a model name, `Name[]` for an array body) is a known SDK model.
pub(crate) fn is_model(what: &str) -> bool {
    fields(what.trim_end_matches("[]")).is_some()
}

/// Checks `body` against model `what` (`Name` or `Name[]`): the first field that is not
/// part of the model answers 400 naming it and its path.
pub(crate) fn check(what: &str, body: &Value) -> Result<(), ApiError> {
    match what.strip_suffix("[]") {
        Some(model) => match body {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| check_at(model, v, &format!("[{i}]"))),
            _ => Ok(()),
        },
        None => check_at(what, body, ""),
    }
}

fn check_at(model: &str, value: &Value, path: &str) -> Result<(), ApiError> {
    let (Some(known), Value::Object(obj)) = (fields(model), value) else {
        return Ok(());
    };
    for (key, v) in obj {
        let at = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let Some((_, ty)) = known.iter().find(|(name, _)| name == key) else {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "bad.request",
                format!(
                    "Unrecognized field \"{key}\" ({model}), not marked as ignorable (at {at})"
                ),
            )
            .with_detail("bad.request", Some(at), None));
        };
        match (*ty, v) {
            (Ty::Any, _) => {}
            (Ty::One(m), v) => check_at(m, v, &at)?,
            (Ty::List(m), Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    check_at(m, item, &format!("{at}[{i}]"))?;
                }
            }
            (Ty::Map(m), Value::Object(entries)) => {
                for (k, item) in entries {
                    check_at(m, item, &format!("{at}.{k}"))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_is_sorted_for_lookup() {
        assert!(MODELS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn unknown_fields_are_named_and_real_ones_pass() {
        let ok = json!({"version": 3, "title": "x", "employerInfo": {"employeeId": "E1", "dateHire": "2020-01-01"}});
        assert!(check("UpdateUser", &ok).is_ok());
        let e = check("UpdateUser", &json!({"version": 3, "colour": "red"})).unwrap_err();
        assert!(
            e.message.contains("\"colour\"") && e.message.contains("UpdateUser"),
            "{}",
            e.message
        );
        let e = check(
            "UpdateUser",
            &json!({"version": 3, "employerInfo": {"badge": 1}}),
        )
        .unwrap_err();
        assert_eq!(
            e.details[0].field_name.as_deref(),
            Some("employerInfo.badge")
        );
        let e = check(
            "WritableDialerContact[]",
            &json!([{"contactListId": "l", "data": {}}, {"contactListId": "l", "data": {}, "status": "x"}]),
        )
        .unwrap_err();
        assert_eq!(e.details[0].field_name.as_deref(), Some("[1].status"));
        assert!(is_model("PostActionInput") && !is_model("string[] phone numbers"));
    }
}
