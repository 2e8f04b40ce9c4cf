//! Request bodies in the original's `{"data": …}` wrapper, read the same
//! way by every API: errors name the field and the rule, never echo a
//! password.

use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::web::envelope::ApiError;

/// A request body `{"data": …}`; other top-level keys (the original's
/// `operationId`) are ignored.
#[derive(Deserialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

/// Reads `{"data":{…}}` into `T`. Errors name the field (by its JSON path)
/// and the rule; syntax errors are reported by position, and a password's
/// or secret's value is never echoed.
pub fn parse_data<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let shape = || ApiError::bad_request("the body must be {\"data\": {…}}");
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(shape());
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    // Only an object: serde would otherwise read a JSON array into a struct
    // field by field, in declaration order.
    let data = match value {
        serde_json::Value::Object(mut top) => match top.remove("data") {
            Some(d @ serde_json::Value::Object(_)) => d,
            _ => return Err(shape()),
        },
        _ => return Err(shape()),
    };
    serde_path_to_error::deserialize(data).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        // serde's message says what was wrong and what was expected, e.g.
        // "invalid type: string \"x\", expected i64" or "unknown field `x`".
        let message = inner.to_string();
        let lower = field.to_ascii_lowercase();
        let sensitive = lower.contains("password") || lower.contains("secret");
        // Only an unknown field's message is sure not to quote the value.
        if sensitive && !message.starts_with("unknown field") {
            return ApiError::bad_request(format!("'{field}' must be a string"));
        }
        if field == "." {
            ApiError::bad_request(message)
        } else {
            ApiError::bad_request(format!("'{field}': {message}"))
        }
    })
}

/// `true`/`false` as JSON booleans or strings: the original's scripts send
/// `"shared": "true"`.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
    }
    match Option::<B>::deserialize(d)? {
        None => Ok(None),
        Some(B::Bool(b)) => Ok(Some(b)),
        Some(B::Text(s)) if s == "true" => Ok(Some(true)),
        Some(B::Text(s)) if s == "false" => Ok(Some(false)),
        Some(B::Text(_)) => Err(serde::de::Error::custom("must be true or false")),
    }
}

/// A field where `null` means something (clear it) and absence means keep:
/// `Some(None)` for `null`, `None` when the field is absent (with
/// `#[serde(default)]`).
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
