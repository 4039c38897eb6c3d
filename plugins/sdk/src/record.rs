//! Building one [`ContactChange`] while collecting every field error.
//!
//! A record with three problems should be rejected once, naming all three, not
//! three times over three syncs. [`ChangeBuilder`] gathers columns and phones and
//! records each problem as a [`FieldError`] at the field's JSON pointer instead of
//! stopping at the first one; phones go through the host's normaliser, and a
//! number that cannot be normalised is an `invalid-phone` error — never dropped.

use crate::json::to_pointer;
use crate::{FieldError, Host, Phone};

/// Longest value a contact-list column may hold, in characters.
pub const MAX_COLUMN_CHARS: usize = 512;

/// Collects the columns, phones and errors of one change.
pub struct ChangeBuilder<'h> {
    host: &'h dyn Host,
    region: Option<String>,
    columns: Vec<(String, String)>,
    phones: Vec<Phone>,
    errors: Vec<FieldError>,
}

impl<'h> ChangeBuilder<'h> {
    /// A builder normalising phones with `region` (ISO 3166-1 alpha-2) as default.
    pub fn new(host: &'h dyn Host, region: Option<String>) -> Self {
        Self {
            host,
            region,
            columns: Vec::new(),
            phones: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Record a problem found by the plugin itself.
    pub fn error(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Record the error of a `Result`, returning its value if any.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.errors.push(e)).ok()
    }

    /// Whether any error has been recorded.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Set data column `name` from the record field `field` (a JSON pointer or
    /// a plain top-level name; errors name it as a pointer, see
    /// [`crate::json::to_pointer`]); `None` sets it to `""` (so a full change
    /// clears it). Longer than [`MAX_COLUMN_CHARS`] is `too-long`.
    pub fn column(&mut self, name: &str, field: &str, value: Option<&str>) {
        let value = value.unwrap_or("").trim();
        // A string of at most MAX_COLUMN_CHARS bytes has at most that many chars.
        let chars = if value.len() <= MAX_COLUMN_CHARS {
            0
        } else {
            value.chars().count()
        };
        if chars > MAX_COLUMN_CHARS {
            let pointer = to_pointer(field);
            self.errors.push(FieldError::new(
                &pointer,
                "too-long",
                format!("{pointer} is {chars} characters; column {name} holds at most {MAX_COLUMN_CHARS}"),
            ));
        } else {
            self.columns.push((name.to_owned(), value.to_owned()));
        }
    }

    /// Normalise the phone in record field `field` (a pointer or plain name, as
    /// for [`ChangeBuilder::column`]) into phone column `column`. `None` or
    /// blank adds nothing; an unusable number is an `invalid-phone` error.
    pub fn phone(&mut self, column: &str, field: &str, raw: Option<&str>) {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return;
        };
        match self.host.normalize_phone(raw, self.region.as_deref()) {
            Ok(number) => self.phones.push(Phone {
                column: column.to_owned(),
                number,
            }),
            Err(e) => {
                let pointer = to_pointer(field);
                self.errors.push(FieldError::new(
                    &pointer,
                    "invalid-phone",
                    format!("{pointer}: {} ({})", e.message, e.code),
                ))
            }
        }
    }

    /// The phones normalised so far.
    pub fn phones(&self) -> &[Phone] {
        &self.phones
    }

    /// The columns and phones, or every error recorded.
    #[allow(clippy::type_complexity)] // the pair is the change's own two lists
    pub fn finish(self) -> Result<(Vec<(String, String)>, Vec<Phone>), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok((self.columns, self.phones))
        } else {
            Err(self.errors)
        }
    }
}

/// A region code from a record field, if it looks like ISO 3166-1 alpha-2.
pub fn region_code(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase)
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::NativeHost;

    #[test]
    fn collects_every_error_and_normalises_phones() {
        let host = NativeHost::default();
        let mut b = ChangeBuilder::new(&host, Some("US".into()));
        b.column("firstName", "/first", Some(" Ann "));
        b.column("bio", "/bio", Some(&"x".repeat(513)));
        b.phone("phone", "/phone", Some("(281) 332-2575"));
        b.phone("mobile", "/mobile", Some("555-0143"));
        b.phone("home", "/home", Some("  "));
        let errors = b.finish().unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(
            (errors[0].field.as_str(), errors[0].code.as_str()),
            ("/bio", "too-long")
        );
        assert_eq!(
            (errors[1].field.as_str(), errors[1].code.as_str()),
            ("/mobile", "invalid-phone")
        );
        assert!(errors[1].message.contains("555-0143"));

        let mut b = ChangeBuilder::new(&host, Some("US".into()));
        b.column("firstName", "/first", Some(" Ann "));
        b.phone("phone", "/phone", Some("(281) 332-2575"));
        let (columns, phones) = b.finish().unwrap();
        assert_eq!(columns, vec![("firstName".to_owned(), "Ann".to_owned())]);
        assert_eq!(phones[0].number, "+12813322575");
    }

    #[test]
    fn region_codes() {
        assert_eq!(region_code(Some(" gb ")), Some("GB".into()));
        assert_eq!(region_code(Some("United States")), None);
        assert_eq!(region_code(None), None);
    }
}
