//! Filter conditions over records, as a small AST.
//!
//! SQL backends compile it to a WHERE clause ([`crate::storage::sqlite`]); the memory and JSON
//! backends evaluate it with [`Filter::matches`]. Both must agree; the conformance tests check.

use super::Record;
use serde_json::Value as Json;

/// Which JSON column a condition looks into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Params,
    Metadata,
}

impl Field {
    pub fn column(self) -> &'static str {
        match self {
            Field::Params => "params",
            Field::Metadata => "metadata",
        }
    }
}

/// One condition. All conditions of a [`Filter`] must hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    KeyPrefix(String),
    /// Top-level member `name` equals `value` (JSON equality).
    Eq {
        field: Field,
        name: String,
        value: Json,
    },
    /// Top-level member is a string starting with the prefix.
    Prefix {
        field: Field,
        name: String,
        prefix: String,
    },
    /// Top-level member is a string matching the glob (`*`, `?`, `[...]`, as SQLite's GLOB).
    Glob {
        field: Field,
        name: String,
        pattern: String,
    },
    /// Top-level member is present (or absent, with `false`).
    Exists {
        field: Field,
        name: String,
        exists: bool,
    },
    /// Top-level member equals one of the values.
    In {
        field: Field,
        name: String,
        values: Vec<Json>,
    },
    DataType(String),
    CreatedBefore(i64),
    CreatedAfter(i64),
    AccessedBefore(i64),
    /// Has an expiry time and it is earlier than t.
    ExpiresBefore(i64),
    MinSize(u64),
    MaxSize(u64),
    /// No expiry time, or one later than t.
    AliveAt(i64),
}

/// A conjunction of conditions; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter(pub Vec<Cond>);

/// Sort order of a listing; ties are broken by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    CreatedAt,
    AccessedAt,
    Key,
}

/// The sort value of a record under an order (used by cursors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
}

impl Order {
    pub fn value_of(self, r: &Record) -> Value {
        match self {
            Order::CreatedAt => Value::Int(r.created_at),
            Order::AccessedAt => Value::Int(r.accessed_at),
            Order::Key => Value::Text(r.key.clone()),
        }
    }
    pub fn column(self) -> &'static str {
        match self {
            Order::CreatedAt => "created_at",
            Order::AccessedAt => "accessed_at",
            Order::Key => "key",
        }
    }
}

impl Filter {
    pub fn all() -> Self {
        Filter(Vec::new())
    }
    pub fn with(mut self, c: Cond) -> Self {
        self.0.push(c);
        self
    }
    /// Evaluates the filter on one record (for backends without SQL).
    pub fn matches(&self, r: &Record) -> bool {
        let mut params: Option<Option<Json>> = None;
        let mut metadata: Option<Option<Json>> = None;
        for c in &self.0 {
            let ok = match c {
                Cond::KeyPrefix(p) => r.key.starts_with(p.as_str()),
                Cond::DataType(t) => &r.data_type == t,
                Cond::CreatedBefore(t) => r.created_at < *t,
                Cond::CreatedAfter(t) => r.created_at > *t,
                Cond::AccessedBefore(t) => r.accessed_at < *t,
                Cond::ExpiresBefore(t) => matches!(r.expires_at, Some(e) if e < *t),
                Cond::MinSize(n) => r.size >= *n,
                Cond::MaxSize(n) => r.size <= *n,
                Cond::AliveAt(t) => r.expires_at.is_none_or(|e| e > *t),
                Cond::Eq { field, name, value } => {
                    member(r, *field, name, &mut params, &mut metadata).flatten().is_some_and(|v| json_eq(&v, value))
                }
                Cond::In { field, name, values } => member(r, *field, name, &mut params, &mut metadata)
                    .flatten()
                    .is_some_and(|v| values.iter().any(|x| json_eq(&v, x))),
                Cond::Prefix { field, name, prefix } => {
                    matches!(member(r, *field, name, &mut params, &mut metadata), Some(Some(Json::String(s))) if s.starts_with(prefix.as_str()))
                }
                Cond::Glob { field, name, pattern } => {
                    matches!(member(r, *field, name, &mut params, &mut metadata), Some(Some(Json::String(s))) if glob_match(pattern, &s))
                }
                Cond::Exists { field, name, exists } => {
                    // Text that is not JSON has no members.
                    member(r, *field, name, &mut params, &mut metadata).flatten().is_some() == *exists
                }
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

/// The member `name` of the record's JSON column: `None` if the text is not JSON,
/// `Some(None)` if the member is absent.
fn member(
    r: &Record,
    field: Field,
    name: &str,
    params: &mut Option<Option<Json>>,
    metadata: &mut Option<Option<Json>>,
) -> Option<Option<Json>> {
    let (slot, text) = match field {
        Field::Params => (params, &r.params),
        Field::Metadata => (metadata, &r.metadata),
    };
    let doc = slot.get_or_insert_with(|| serde_json::from_str::<Json>(text).ok());
    let doc = doc.as_ref()?;
    Some(doc.as_object().and_then(|o| o.get(name)).cloned())
}

/// JSON equality: numbers by value, objects regardless of member order.
pub fn json_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// SQLite's GLOB: `*` any run, `?` one character, `[abc]`, `[a-z]`, `[^...]`; case-sensitive.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_at(&p, &t)
}

fn glob_at(p: &[char], t: &[char]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // Position to resume from after the last `*`: (pattern index, text index).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class_match(p, pi, t[ti]),
            Some(c) if *c == t[ti] => Some(pi + 1),
            _ => None,
        };
        match step {
            Some(next) => {
                pi = next;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class starting at `p[start] == '['`; returns the index after `]`.
/// As SQLite: a leading `]` is a plain member and cannot start a range; `a-b` is a range only
/// after a plain member and before a character other than `]`; an unclosed class matches nothing.
fn class_match(p: &[char], start: usize, c: char) -> Option<usize> {
    let mut i = start + 1;
    let negate = p.get(i) == Some(&'^');
    if negate {
        i += 1;
    }
    let mut seen = false;
    let mut prior: Option<char> = None;
    if p.get(i) == Some(&']') {
        seen = c == ']';
        i += 1;
    }
    loop {
        let ch = *p.get(i)?;
        if ch == ']' {
            break;
        }
        match (ch, prior, p.get(i + 1)) {
            ('-', Some(lo), Some(&hi)) if hi != ']' => {
                if lo <= c && c <= hi {
                    seen = true;
                }
                prior = None;
                i += 2;
            }
            _ => {
                if ch == c {
                    seen = true;
                }
                prior = Some(ch);
                i += 1;
            }
        }
    }
    (seen != negate).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_follows_sqlite() {
        assert!(glob_match("exp_*", "exp_001"));
        assert!(!glob_match("exp_*", "Exp_001"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "a123b456c"));
        assert!(!glob_match("a*b*c", "a123b456"));
        assert!(glob_match("[]]", "]"));
        assert!(glob_match("[*]", "*"));
        assert!(!glob_match("[]-a]", "_"), "a leading ] cannot start a range");
        assert!(glob_match("[]-a]", "-"));
        assert!(glob_match("[c-a]", "c"), "the member before - matches on its own");
        assert!(!glob_match("[ab", "a"), "an unclosed class matches nothing");
        assert!(!glob_match("[*]", "x"));
    }

    #[test]
    fn json_equality_ignores_member_order_and_number_form() {
        let a: Json = serde_json::from_str(r#"{"a":1,"b":[1.0,2]}"#).unwrap();
        let b: Json = serde_json::from_str(r#"{"b":[1,2.0],"a":1.0}"#).unwrap();
        assert!(json_eq(&a, &b));
    }
}
