//! The filter JSON of API.md ("Filters") turned into the storage layer's [`Filter`].
//! Unknown fields and operators are errors, so a typo never deletes everything.

use super::time::parse_ms;
use crate::error::{Error, Result};
use crate::storage::filter::{Cond, Field};
use crate::storage::Filter;
use serde_json::{Map, Value};

/// Parses a filter (None or empty text: everything). Unless `include_expired` is true, the
/// filter only matches entries alive at `now`.
pub fn parse(json: Option<&str>, now: i64) -> Result<Filter> {
    let obj = match json {
        None => Map::new(),
        Some(s) => match super::keys::parse_strict(s).map_err(|e| e.context("filter"))? {
            Value::Object(m) => m,
            _ => return Err(Error::invalid("filter must be a JSON object ({} matches every live entry)")),
        },
    };
    from_object(&obj, now)
}

/// Same as [`parse`] for an already parsed value (export options carry a filter object).
pub fn from_value(v: Option<&Value>, now: i64) -> Result<Filter> {
    match v {
        None | Some(Value::Null) => from_object(&Map::new(), now),
        Some(Value::Object(m)) => from_object(m, now),
        Some(_) => Err(Error::invalid("filter must be a JSON object")),
    }
}

fn from_object(obj: &Map<String, Value>, now: i64) -> Result<Filter> {
    let mut f = Filter::all();
    let mut include_expired = false;
    for (name, v) in obj {
        match name.as_str() {
            "params" => members(&mut f, Field::Params, v)?,
            "metadata" => members(&mut f, Field::Metadata, v)?,
            "key_prefix" => f = f.with(Cond::KeyPrefix(text(v, name)?.to_string())),
            "data_type" => f = f.with(Cond::DataType(text(v, name)?.to_string())),
            "created_before" => f = f.with(Cond::CreatedBefore(parse_ms(text(v, name)?, name)?)),
            "created_after" => f = f.with(Cond::CreatedAfter(parse_ms(text(v, name)?, name)?)),
            "accessed_before" => f = f.with(Cond::AccessedBefore(parse_ms(text(v, name)?, name)?)),
            "expires_before" => f = f.with(Cond::ExpiresBefore(parse_ms(text(v, name)?, name)?)),
            "min_size" => f = f.with(Cond::MinSize(size(v, name)?)),
            "max_size" => f = f.with(Cond::MaxSize(size(v, name)?)),
            "include_expired" => {
                include_expired =
                    v.as_bool().ok_or_else(|| Error::invalid("filter: include_expired must be true or false"))?
            }
            _ => return Err(Error::invalid(format!("filter: unknown field {name:?}"))),
        }
    }
    if !include_expired {
        f = f.with(Cond::AliveAt(now));
    }
    Ok(f)
}

fn text<'a>(v: &'a Value, name: &str) -> Result<&'a str> {
    v.as_str().ok_or_else(|| Error::invalid(format!("filter: {name} must be a string")))
}

fn size(v: &Value, name: &str) -> Result<u64> {
    v.as_u64().ok_or_else(|| Error::invalid(format!("filter: {name} must be a non-negative integer")))
}

fn members(f: &mut Filter, field: Field, v: &Value) -> Result<()> {
    let what = field.column();
    let Value::Object(m) = v else {
        return Err(Error::invalid(format!("filter: {what} must be an object of member conditions")));
    };
    for (name, cond) in m {
        if name.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
            return Err(Error::invalid(format!(
                "filter: {what} member name {name:?} may not contain quotes, backslashes or control characters"
            )));
        }
        match cond {
            Value::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => {
                for (op, arg) in ops {
                    f.0.push(operator(field, name, op, arg)?);
                }
            }
            value => f.0.push(Cond::Eq { field, name: name.clone(), value: value.clone() }),
        }
    }
    Ok(())
}

fn operator(field: Field, name: &str, op: &str, arg: &Value) -> Result<Cond> {
    let name = name.to_string();
    let bad = |want: &str| Error::invalid(format!("filter: {op} on {name:?} takes {want}"));
    Ok(match op {
        "$prefix" => {
            Cond::Prefix { field, name: name.clone(), prefix: arg.as_str().ok_or_else(|| bad("a string"))?.into() }
        }
        "$glob" => {
            Cond::Glob { field, name: name.clone(), pattern: arg.as_str().ok_or_else(|| bad("a string"))?.into() }
        }
        "$exists" => {
            Cond::Exists { field, name: name.clone(), exists: arg.as_bool().ok_or_else(|| bad("true or false"))? }
        }
        "$in" => Cond::In { field, name: name.clone(), values: arg.as_array().ok_or_else(|| bad("an array"))?.clone() },
        _ => return Err(Error::invalid(format!("filter: unknown operator {op:?} on {name:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_errors() {
        assert!(parse(Some(r#"{"param": {}}"#), 0).is_err());
        assert!(parse(Some(r#"{"params": {"a": {"$prefx": "x"}}}"#), 0).is_err());
        assert!(parse(Some("[1]"), 0).is_err());
        assert!(parse(Some(r#"{"min_size": -1}"#), 0).is_err());
        assert!(parse(Some(""), 0).is_err(), "an empty required filter never means everything");
        assert!(parse(Some(r#"{"params":{"a":1},"params":{}}"#), 0).is_err(), "duplicate names");
    }

    #[test]
    fn live_only_unless_asked() {
        assert_eq!(parse(None, 5).unwrap().0, vec![Cond::AliveAt(5)]);
        assert!(parse(Some(r#"{"include_expired": true}"#), 5).unwrap().0.is_empty());
    }
}
