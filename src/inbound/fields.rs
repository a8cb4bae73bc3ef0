//! Reading fields out of a webhook's JSON body, with errors that name the field's JSON path.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Parses the raw body as a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::InvalidJson {
            detail: "expected a JSON object ({...})".into(),
        }),
        Err(error) => Err(ApiError::InvalidJson {
            detail: format!(
                "{} at line {} column {}",
                describe(&error),
                error.line(),
                error.column()
            ),
        }),
    }
}

fn describe(error: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match error.classify() {
        Category::Eof => "unexpected end of input",
        Category::Syntax => "syntax error",
        Category::Data => "unexpected data",
        Category::Io => "read error",
    }
}

/// Reads a required Baidu id: a positive JSON integer or a string of digits that fits in
/// an unsigned 64-bit integer. Strings keep ids beyond 2^53 safe from JavaScript senders.
pub fn required_id(object: &Map<String, Value>, field: &str) -> Result<u64, ApiError> {
    let value =
        object
            .get(field)
            .filter(|v| !v.is_null())
            .ok_or_else(|| ApiError::MissingField {
                field: field.to_owned(),
            })?;
    parse_id(value).map_err(|reason| ApiError::InvalidField {
        field: field.to_owned(),
        reason: reason.to_owned(),
    })
}

const ID_RULE: &str =
    "must be a positive integer (a JSON number or a string of digits) up to 18446744073709551615";

fn parse_id(value: &Value) -> Result<u64, &'static str> {
    let id = match value {
        Value::Number(number) => number.as_u64().ok_or(ID_RULE)?,
        Value::String(text) => {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ID_RULE);
            }
            if text.len() > 1 && text.starts_with('0') {
                return Err("must not have leading zeros");
            }
            text.parse::<u64>().map_err(|_| ID_RULE)?
        }
        _ => return Err(ID_RULE),
    };
    if id == 0 {
        return Err(ID_RULE);
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn ids_accept_numbers_and_digit_strings() {
        let o = object(
            json!({"a": 2636635856u64, "b": "4188819900", "c": "18446744073709551615", "d": u64::MAX}),
        );
        assert_eq!(required_id(&o, "a"), Ok(2636635856));
        assert_eq!(required_id(&o, "b"), Ok(4188819900));
        assert_eq!(required_id(&o, "c"), Ok(u64::MAX));
        assert_eq!(required_id(&o, "d"), Ok(u64::MAX));
    }

    #[test]
    fn ids_reject_everything_else_naming_the_field() {
        let body =
            br#"{"neg": -1, "frac": 1.5, "exp": 1e3, "word": "abc", "empty": "", "bool": true,
            "big": 18446744073709551616, "bigs": "18446744073709551616", "zero": 0, "zeros": "000",
            "lead": "0123", "plus": "+5", "space": " 5", "arr": [1], "obj": {}, "null": null}"#;
        let o = parse_object(body).unwrap();
        for field in [
            "neg", "frac", "exp", "word", "empty", "bool", "big", "bigs", "zero", "zeros", "lead",
            "plus", "space", "arr", "obj",
        ] {
            match required_id(&o, field) {
                Err(ApiError::InvalidField { field: named, .. }) => assert_eq!(named, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert_eq!(
            required_id(&o, "null"),
            Err(ApiError::MissingField {
                field: "null".into()
            })
        );
        assert_eq!(
            required_id(&o, "absent"),
            Err(ApiError::MissingField {
                field: "absent".into()
            })
        );
    }

    #[test]
    fn bodies_must_be_json_objects() {
        for bad in [
            &b""[..],
            b"{",
            b"[1]",
            b"\"x\"",
            b"null",
            b"{\"a\":1}x",
            b"\xff",
        ] {
            match parse_object(bad) {
                Err(ApiError::InvalidJson { detail }) => assert!(!detail.is_empty()),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(parse_object(b" {\"a\": 1} \n").is_ok());
    }
}
