//! REST API records (`GET /sobjects/...`, SOQL `query`/`queryAll` results).

use dialsync_plugin_sdk::serde_json::Value;
use dialsync_plugin_sdk::{
    ChangeBuilder, ContactChange, FieldError, Host, MapOutcome, Operation, time,
};

use crate::PHONES;
use crate::fields::{flag, ids, region, text, top_text};

/// Map one Contact or Lead REST record to a full change.
pub fn map_record(host: &dyn Host, record: &Value) -> MapOutcome {
    let mut b = ChangeBuilder::new(host, None);
    let object = match b.check(object_type(record)) {
        Some(Some(object)) => Some(object),
        Some(None) => {
            return MapOutcome::Skip(format!(
                "not a Contact or Lead record (attributes.type {})",
                record
                    .get("attributes")
                    .and_then(|a| a.get("type"))
                    .unwrap_or(&Value::Null)
            ));
        }
        None => None,
    };
    let ids = match b.check(text(record, "Id", "/Id")).flatten() {
        Some(raw) => b.check(ids(raw, "/Id")),
        None => {
            b.error(FieldError::missing("/Id", "the record's 15- or 18-char Id"));
            None
        }
    };
    let updated_at = updated_at(&mut b, record);
    let deleted = b.check(flag(record, "IsDeleted", "/IsDeleted")).flatten() == Some(true);
    let do_not_call = b.check(flag(record, "DoNotCall", "/DoNotCall")).flatten() == Some(true);

    let countries = [
        b.check(text(record, "MailingCountryCode", "/MailingCountryCode"))
            .flatten(),
        b.check(text(record, "CountryCode", "/CountryCode"))
            .flatten(),
    ];
    let mut phones = ChangeBuilder::new(host, region(host, &countries));
    if !deleted {
        for (column, field) in [
            ("firstName", "FirstName"),
            ("lastName", "LastName"),
            ("email", "Email"),
            ("title", "Title"),
        ] {
            let v = b.check(top_text(record, field)).flatten();
            b.column(column, field, v);
        }
        let account_name = record.get("Account").and_then(|a| a.get("Name"));
        let company = match account_name {
            Some(Value::String(name)) => Some(("/Account/Name", name.as_str())),
            _ => b
                .check(text(record, "Company", "/Company"))
                .flatten()
                .map(|c| ("/Company", c)),
        };
        match company {
            Some((pointer, name)) => b.column("company", pointer, Some(name)),
            None => b.column("company", "/Company", None),
        }
        b.column("sourceObject", "/attributes/type", object);
        for (column, field) in PHONES {
            let raw = b.check(top_text(record, field)).flatten();
            phones.phone(column, field, raw);
        }
    }

    let (columns, phones, (id18, external_id), updated_at) =
        match (b.finish(), phones.finish(), ids, updated_at) {
            (Ok((columns, _)), Ok((_, phones)), Some(ids), Some(at)) => (columns, phones, ids, at),
            (a, p, _, _) => {
                let mut errors = a.err().unwrap_or_default();
                errors.extend(p.err().unwrap_or_default());
                return MapOutcome::Reject(errors);
            }
        };
    let operation = if deleted {
        Operation::Remove
    } else if do_not_call {
        Operation::DoNotCall
    } else {
        // No phone at all is an upsert too: the host clears the phone columns.
        Operation::Upsert
    };
    MapOutcome::Change(ContactChange {
        external_id,
        source_id: id18,
        source_updated_at: updated_at,
        operation,
        partial: false,
        columns,
        phones,
        callable: (!deleted).then_some(!do_not_call),
    })
}

/// `Some(Contact|Lead)`, `None` for other objects; without `attributes.type`
/// the Id's key prefix decides (`003` Contact, `00Q` Lead).
fn object_type(record: &Value) -> Result<Option<&str>, FieldError> {
    match record.get("attributes").and_then(|a| a.get("type")) {
        Some(Value::String(t)) => Ok(["Contact", "Lead"]
            .contains(&t.as_str())
            .then_some(t.as_str())),
        Some(other) if !other.is_null() => Err(FieldError::new(
            "/attributes/type",
            "invalid-type",
            "/attributes/type must be a string such as \"Contact\"",
        )),
        _ => Ok(match record.get("Id").and_then(Value::as_str) {
            Some(id) if id.starts_with("003") => Some("Contact"),
            Some(id) if id.starts_with("00Q") => Some("Lead"),
            Some(_) => None,
            // No Id either: the caller rejects the record for its missing Id, so
            // the type is left blank rather than skipping a malformed record.
            None => Some(""),
        }),
    }
}

/// `SystemModstamp` (changes on automated updates too), else `LastModifiedDate`.
fn updated_at(b: &mut ChangeBuilder<'_>, record: &Value) -> Option<String> {
    for field in ["SystemModstamp", "LastModifiedDate"] {
        if let Some(raw) = b.check(top_text(record, field)).flatten() {
            return b.check(
                time::salesforce_datetime(raw)
                    .map_err(|e| FieldError::new(format!("/{field}"), "invalid-date", e.message)),
            );
        }
    }
    b.error(FieldError::missing(
        "/SystemModstamp",
        "SystemModstamp or LastModifiedDate",
    ));
    None
}
