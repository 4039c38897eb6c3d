//! Contact lists and the contact search request/response.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::DomainEntityRef;
use super::contact::DialerContact;

/// A phone column of a contact list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactPhoneNumberColumn {
    /// Column name (must be in `columnNames`).
    pub column_name: String,
    /// `cell`, `home`, `work`, …
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Column holding the callable time window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callable_time_column: Option<String>,
}

/// An email column of a contact list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailColumn {
    /// Column name (must be in `columnNames`).
    pub column_name: String,
    /// `work`, `personal`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Column holding the contactable time window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contactable_time_column: Option<String>,
}

/// An outbound contact list. Columns cannot change after creation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactList {
    /// List id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// List name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Optimistic-lock version; required on PUT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Division the list is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub division: Option<DomainEntityRef>,
    /// Data column names.
    #[serde(default)]
    pub column_names: Vec<String>,
    /// Phone columns.
    #[serde(default)]
    pub phone_columns: Vec<ContactPhoneNumberColumn>,
    /// Email columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_columns: Option<Vec<EmailColumn>>,
    /// Number of contacts (only with `includeSize=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// ISO-8601 creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_created: Option<String>,
    /// ISO-8601 modification time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_modified: Option<String>,
    /// API URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    /// Fields this crate does not model, kept for round trips.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `AND` / `OR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FilterType {
    /// All must match.
    And,
    /// Any may match.
    Or,
}

/// How a predicate compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Numeric comparison.
    Numeric,
    /// String comparison.
    Alphabetic,
}

/// Predicate operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum FilterOperator {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
    Contains,
    BeginsWith,
    EndsWith,
    Before,
    After,
    Between,
    In,
}

/// One column comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactListFilterPredicate {
    /// Column compared.
    pub column: String,
    /// Comparison kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column_type: Option<ColumnType>,
    /// Operator.
    pub operator: FilterOperator,
    /// Value compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Range for `BETWEEN`/`IN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<Value>,
    /// Negates the predicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inverted: Option<bool>,
}

impl ContactListFilterPredicate {
    /// `column EQUALS value` (alphabetic).
    pub fn equals(column: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            column: column.into(),
            column_type: Some(ColumnType::Alphabetic),
            operator: FilterOperator::Equals,
            value: Some(value.into()),
            range: None,
            inverted: None,
        }
    }
}

/// A clause of predicates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactListFilterClause {
    /// How the predicates combine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_type: Option<FilterType>,
    /// The predicates.
    pub predicates: Vec<ContactListFilterPredicate>,
}

/// Search criteria.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactBulkSearchCriteria {
    /// How the clauses combine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_type: Option<FilterType>,
    /// The clauses.
    pub clauses: Vec<ContactListFilterClause>,
}

/// Sort key of a search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactSort {
    /// Column sorted on.
    pub field_name: String,
    /// Direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<SortDirection>,
    /// Numeric sort.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric: Option<bool>,
}

/// `ASC` / `DESC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum SortDirection {
    Asc,
    Desc,
}

/// Body of `POST …/contacts/search`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactListingRequest {
    /// A saved contact-list filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_list_filter_id: Option<String>,
    /// Ad-hoc criteria.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criteria: Option<ContactBulkSearchCriteria>,
    /// 1-based page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_number: Option<u32>,
    /// Page size (max 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Sort keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_sorts: Option<Vec<ContactSort>>,
}

impl ContactListingRequest {
    /// Contacts whose `column` equals `value`, first page of `page_size`.
    pub fn column_equals(
        column: impl Into<String>,
        value: impl Into<String>,
        page_size: u32,
    ) -> Self {
        Self {
            criteria: Some(ContactBulkSearchCriteria {
                filter_type: Some(FilterType::And),
                clauses: vec![ContactListFilterClause {
                    filter_type: Some(FilterType::And),
                    predicates: vec![ContactListFilterPredicate::equals(column, value)],
                }],
            }),
            page_number: Some(1),
            page_size: Some(page_size),
            ..Self::default()
        }
    }
}

/// Answer of `POST …/contacts/search`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactListingResponse {
    /// Matching contacts on this page.
    #[serde(default)]
    pub entities: Vec<DialerContact>,
    /// Page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Page number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_number: Option<u32>,
    /// Total matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Contacts in the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts_count: Option<u64>,
    /// Number of pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_count: Option<u32>,
}
