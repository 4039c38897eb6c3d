//! Local validation of a contact row against its list before anything is sent: only
//! known columns, at most [`MAX_CELL_CHARS`] characters per cell. One bad record is
//! rejected with field errors instead of failing a whole batch at the API.

use super::change::{EXTERNAL_ID_COLUMN, FieldError, Row};
use super::sink::ListShape;

/// The API's limit on one cell.
pub const MAX_CELL_CHARS: usize = 512;

/// Field errors for a row (empty when it can be sent).
pub fn validate(row: &Row, shape: &ListShape) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !shape.columns.contains(EXTERNAL_ID_COLUMN) {
        errors.push(FieldError {
            field: EXTERNAL_ID_COLUMN.to_string(),
            code: "list_missing_external_id_column".to_string(),
            message: format!(
                "the contact list has no {EXTERNAL_ID_COLUMN:?} column; dialsync needs it to keep contacts unique"
            ),
        });
    }
    for (column, value) in &row.data {
        if !shape.columns.contains(column) {
            errors.push(FieldError {
                field: column.clone(),
                code: "unknown_column".to_string(),
                message: format!("column {column:?} is not one of the contact list's columns"),
            });
            continue;
        }
        let chars = value.chars().count();
        if chars > MAX_CELL_CHARS {
            errors.push(FieldError {
                field: column.clone(),
                code: "cell_too_long".to_string(),
                message: format!(
                    "value has {chars} characters; Genesys allows at most {MAX_CELL_CHARS} per cell"
                ),
            });
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> ListShape {
        ListShape {
            columns: ["externalId", "name", "phone"]
                .into_iter()
                .map(String::from)
                .collect(),
            phone_columns: ["phone".to_string()].into(),
        }
    }

    #[test]
    fn flags_unknown_columns_and_long_cells() {
        let row = Row {
            data: [
                ("externalId".to_string(), "E1".to_string()),
                ("name".to_string(), "x".repeat(513)),
                ("shoe".to_string(), "42".to_string()),
            ]
            .into(),
            callable: true,
        };
        let errors = validate(&row, &shape());
        let codes: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [("name", "cell_too_long"), ("shoe", "unknown_column")]
        );
    }

    #[test]
    fn accepts_a_good_row() {
        let row = Row {
            data: [
                ("externalId".to_string(), "E1".to_string()),
                ("name".to_string(), "é".repeat(512)),
            ]
            .into(),
            callable: true,
        };
        assert!(validate(&row, &shape()).is_empty());
    }
}
