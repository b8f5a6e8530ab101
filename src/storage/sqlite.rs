//! SQLite metadata backend: WAL, prepared (cached) statements, set-based filters compiled to
//! SQL, one `BEGIN IMMEDIATE` transaction per write call, a small connection pool so readers
//! on several threads run in parallel.

use super::filter::{Cond, Filter, Order, Value};
use super::{AccessNote, Action, Loaded, MetadataBackend, Outcome, Payload, Record, Scanned, TxBody};
use crate::error::{Error, Result};
use rusqlite::types::Value as Sql;
use rusqlite::{params_from_iter, Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How long a call waits for another writer (thread or process) before CACHENESS_BUSY.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// 2: ns_totals kept by the library's statements (one update per transaction) instead of
/// per-row triggers, which cost every insert a trigger program and a statement journal.
/// 3: the created/accessed indexes without the key (a third of their size; ties in those
/// orders are sorted by key per group of equal times).
const SCHEMA_VERSION: i64 = 3;
/// `MIGRATIONS[i]` brings a database from version `i + 1` to `i + 2` (the new indexes are
/// created by `SCHEMA` before these run).
const MIGRATIONS: [&str; 2] = [
    "DROP TRIGGER IF EXISTS entries_ins;
     DROP TRIGGER IF EXISTS entries_del;
     DROP TRIGGER IF EXISTS entries_upd;
     DELETE FROM ns_totals;
     INSERT INTO ns_totals (ns, entries, total_size) SELECT ns, count(*), sum(size) FROM entries GROUP BY ns;",
    "DROP INDEX IF EXISTS entries_created;
     DROP INDEX IF EXISTS entries_accessed;",
];
const COLS: &str = "key, params, data_type, description, size, content_hash, version, created_at, \
                    accessed_at, access_count, expires_at, metadata, blob, signature";

const READ_ONE_ALIVE: &str = "SELECT key, params, data_type, description, size, content_hash, version, \
    created_at, accessed_at, access_count, expires_at, metadata, blob, signature, inline FROM entries \
    WHERE ns = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cacheness_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    ns TEXT NOT NULL, key TEXT NOT NULL, params TEXT NOT NULL, data_type TEXT NOT NULL,
    description TEXT NOT NULL, size INTEGER NOT NULL, content_hash TEXT NOT NULL,
    version INTEGER NOT NULL, created_at INTEGER NOT NULL, accessed_at INTEGER NOT NULL,
    access_count INTEGER NOT NULL, expires_at INTEGER, metadata TEXT NOT NULL, blob TEXT,
    inline BLOB, signature TEXT NOT NULL, UNIQUE (ns, key));
CREATE INDEX IF NOT EXISTS entries_by_created ON entries (ns, created_at);
CREATE INDEX IF NOT EXISTS entries_by_accessed ON entries (ns, accessed_at);
CREATE INDEX IF NOT EXISTS entries_expires ON entries (ns, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_blob ON entries (blob) WHERE blob IS NOT NULL;
CREATE TABLE IF NOT EXISTS ns_totals (ns TEXT PRIMARY KEY, entries INTEGER NOT NULL,
    total_size INTEGER NOT NULL);
";

pub struct Sqlite {
    path: PathBuf,
    full_sync: bool,
    /// Opened read-only (the file system refused writes at open).
    read_only: bool,
    pool: Mutex<Vec<Connection>>,
    checkpointer: super::checkpoint::Checkpointer,
}

impl Sqlite {
    /// Opens (creating if needed) the database at `path`. `full_sync`: fsync on every commit.
    pub fn open(path: &Path, full_sync: bool) -> Result<Self> {
        // Absolute, so that SQLite (built with URI support) never reads "file:..." as a URI.
        let path = std::path::absolute(path).map_err(|e| Error::io(format!("{}: {e}", path.display())))?;
        let db = Sqlite {
            path,
            full_sync,
            read_only: false,
            pool: Mutex::new(Vec::new()),
            checkpointer: Default::default(),
        };
        match db.open_schema() {
            Ok(()) => Ok(db),
            // On a read-only file system WAL cannot make its -shm file, so even reading fails:
            // serve the existing database read-only instead (writes then fail with CACHENESS_IO).
            Err(e) if e.code == crate::error::Code::Io && db.path.exists() => {
                let ro = Sqlite {
                    path: db.path.clone(),
                    full_sync,
                    read_only: true,
                    pool: Mutex::new(Vec::new()),
                    checkpointer: Default::default(),
                };
                let conn = ro.connect().map_err(|_| e.clone())?;
                let v: Option<String> = conn
                    .query_row("SELECT value FROM cacheness_meta WHERE name = 'schema_version'", [], |r| r.get(0))
                    .optional()
                    .map_err(|_| e.clone())?;
                // Read-only, every version up to this one reads the same (they differ in write
                // upkeep only).
                if !v.and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| (1..=SCHEMA_VERSION).contains(&v)) {
                    return Err(e);
                }
                ro.give_back(conn);
                Ok(ro)
            }
            Err(e) => Err(e),
        }
    }

    /// Creates or checks the schema (one write transaction).
    fn open_schema(&self) -> Result<()> {
        let db = self;
        let mut conn = db.connect()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        let found: Option<String> = tx
            .query_row("SELECT value FROM cacheness_meta WHERE name = 'schema_version'", [], |r| r.get(0))
            .optional()?;
        match found.as_deref().map(str::parse::<i64>) {
            None => {
                tx.execute(
                    "INSERT INTO cacheness_meta (name, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(Ok(v)) if v == SCHEMA_VERSION => {}
            Some(Ok(v)) if (1..SCHEMA_VERSION).contains(&v) => {
                for m in &MIGRATIONS[(v - 1) as usize..] {
                    tx.execute_batch(m)?;
                }
                tx.execute(
                    "UPDATE cacheness_meta SET value = ?1 WHERE name = 'schema_version'",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(Ok(v)) if v > SCHEMA_VERSION => {
                return Err(Error::backend(format!(
                    "database schema version {v} is newer than this library supports ({SCHEMA_VERSION})"
                )))
            }
            Some(_) => return Err(Error::corrupt("database schema version is unreadable")),
        }
        tx.commit()?;
        db.give_back(conn);
        Ok(())
    }

    fn connect(&self) -> Result<Connection> {
        if self.read_only {
            // `immutable`: no locks and no -shm (the file system cannot change under us).
            let uri = format!("file:{}?mode=ro&immutable=1", uri_path(&self.path));
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_NOFOLLOW;
            let conn = Connection::open_with_flags(uri, flags)?;
            conn.set_prepared_statement_cache_capacity(64);
            return Ok(conn);
        }
        // No URI: a directory named "file:..." is a directory. No links: a cacheness.db planted
        // as a symbolic link to a file elsewhere is refused, never written through.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // A read-only database cannot switch to WAL; it can still be read.
        let _ = conn.pragma_update(None, "journal_mode", "WAL");
        conn.pragma_update(None, "synchronous", if self.full_sync { "FULL" } else { "NORMAL" })?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", -8192)?;
        if let Ok(m) = std::env::var("CN_MMAP") {
            conn.pragma_update(None, "mmap_size", m.parse::<i64>().unwrap())?;
        }
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < 8 {
                pool.push(conn);
            }
        }
    }

    /// After a committed write: a checkpoint is due on the background thread.
    fn wrote(&self) {
        self.checkpointer.wrote(|| self.connect().ok());
    }

    /// Runs `f` on a pooled connection (opening one if all are busy).
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let taken = self.pool.lock().map_err(|_| Error::backend("connection pool poisoned"))?.pop();
        let mut conn = match taken {
            Some(c) => c,
            None => self.connect()?,
        };
        let out = f(&mut conn);
        if conn.is_autocommit() {
            self.give_back(conn);
        }
        out
    }
}

/// An absolute path as the path part of an SQLite URI (percent-encoded).
fn uri_path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/._-".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn row_to_record(row: &Row<'_>) -> rusqlite::Result<Record> {
    record_at(row, 0)
}

/// The record in the `COLS` columns starting at column `o`.
fn record_at(row: &Row<'_>, o: usize) -> rusqlite::Result<Record> {
    Ok(Record {
        key: row.get(o)?,
        params: row.get(o + 1)?,
        data_type: row.get(o + 2)?,
        description: row.get(o + 3)?,
        size: row.get::<_, i64>(o + 4)?.try_into().map_err(|_| bad_col(o + 4))?,
        content_hash: row.get(o + 5)?,
        version: row.get::<_, i64>(o + 6)?.try_into().map_err(|_| bad_col(o + 6))?,
        created_at: row.get(o + 7)?,
        accessed_at: row.get(o + 8)?,
        access_count: row.get::<_, i64>(o + 9)?.try_into().map_err(|_| bad_col(o + 9))?,
        expires_at: row.get(o + 10)?,
        metadata: row.get(o + 11)?,
        blob: row.get(o + 12)?,
        signature: row.get(o + 13)?,
    })
}

fn bad_col(i: usize) -> rusqlite::Error {
    rusqlite::Error::IntegralValueOutOfRange(i, -1)
}

fn int(v: u64) -> Sql {
    Sql::Integer(v.min(i64::MAX as u64) as i64)
}

/// SQL for the JSON type and the value of the top-level member `name` of `col`, with their
/// arguments pushed. A JSON path cannot name a member whose name holds `"` or `\\` (SQLite's
/// quoted path labels have no escapes), so those are looked up with json_each instead.
fn member_sql(col: &str, name: &str, args: &mut Vec<Sql>) -> (String, String) {
    if name.contains(['"', '\\']) {
        args.push(Sql::Text(name.to_string()));
        let n = args.len();
        (
            format!("(SELECT type FROM json_each({col}) WHERE key = ?{n})"),
            format!("(SELECT value FROM json_each({col}) WHERE key = ?{n})"),
        )
    } else {
        args.push(Sql::Text(format!("$.\"{name}\"")));
        let p = args.len();
        (format!("json_type({col}, ?{p})"), format!("json_extract({col}, ?{p})"))
    }
}

/// Appends the SQL for one JSON equality test of the member (`ty`, `val`: see [`member_sql`])
/// against `v`.
fn json_eq_sql(ty: &str, val: &str, v: &serde_json::Value, args: &mut Vec<Sql>) -> String {
    use serde_json::Value as J;
    match v {
        J::Null => format!("{ty} = 'null'"),
        J::Bool(true) => format!("{ty} = 'true'"),
        J::Bool(false) => format!("{ty} = 'false'"),
        J::String(s) => {
            args.push(Sql::Text(s.clone()));
            format!("({ty} = 'text' AND {val} = ?{})", args.len())
        }
        J::Number(n) => {
            args.push(match n.as_i64() {
                Some(i) => Sql::Integer(i),
                None => Sql::Real(n.as_f64().unwrap_or(f64::NAN)),
            });
            format!("({ty} IN ('integer', 'real') AND {val} = ?{})", args.len())
        }
        J::Array(_) | J::Object(_) => {
            args.push(Sql::Text(crate::cache::keys::canonical_value(v)));
            format!("({ty} IN ('object', 'array') AND {val} = ?{})", args.len())
        }
    }
}

/// Escapes GLOB's special characters so the text matches itself.
fn glob_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.chars() {
        match c {
            '*' | '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Compiles a filter to a SQL condition over `entries`, pushing its arguments.
pub(crate) fn where_sql(f: &Filter, args: &mut Vec<Sql>) -> String {
    let mut parts = Vec::new();
    for c in &f.0 {
        let sql = match c {
            Cond::KeyPrefix(p) => {
                // GLOB with a literal prefix lets SQLite use the (ns, key) index as a range.
                args.push(Sql::Text(format!("{}*", glob_literal(p))));
                format!("key GLOB ?{}", args.len())
            }
            Cond::DataType(t) => {
                args.push(Sql::Text(t.clone()));
                format!("data_type = ?{}", args.len())
            }
            Cond::CreatedBefore(t) => bind(args, Sql::Integer(*t), "created_at < ?"),
            Cond::CreatedAfter(t) => bind(args, Sql::Integer(*t), "created_at > ?"),
            Cond::AccessedBefore(t) => bind(args, Sql::Integer(*t), "accessed_at < ?"),
            Cond::ExpiresBefore(t) => bind(args, Sql::Integer(*t), "expires_at IS NOT NULL AND expires_at < ?"),
            Cond::MinSize(n) => bind(args, int(*n), "size >= ?"),
            Cond::MaxSize(n) => bind(args, int(*n), "size <= ?"),
            Cond::AliveAt(t) => bind(args, Sql::Integer(*t), "(expires_at IS NULL OR expires_at > ?)"),
            Cond::Eq { field, name, value } => {
                let (ty, val) = member_sql(field.column(), name, args);
                json_eq_sql(&ty, &val, value, args)
            }
            Cond::In { field, name, values } => {
                if values.is_empty() {
                    "0".to_string()
                } else {
                    let (ty, val) = member_sql(field.column(), name, args);
                    let ors: Vec<String> = values.iter().map(|v| json_eq_sql(&ty, &val, v, args)).collect();
                    format!("({})", ors.join(" OR "))
                }
            }
            Cond::Prefix { field, name, prefix } => {
                let (ty, val) = member_sql(field.column(), name, args);
                args.push(Sql::Text(prefix.clone()));
                let x = args.len();
                format!("({ty} = 'text' AND substr({val}, 1, length(?{x})) = ?{x})")
            }
            Cond::Glob { field, name, pattern } => {
                let (ty, val) = member_sql(field.column(), name, args);
                args.push(Sql::Text(pattern.clone()));
                format!("({ty} = 'text' AND {val} GLOB ?{})", args.len())
            }
            Cond::Exists { field, name, exists } => {
                let (ty, _) = member_sql(field.column(), name, args);
                let not = if *exists { "NOT " } else { "" };
                format!("{ty} IS {not}NULL")
            }
        };
        // A cheap test first: the library writes params and metadata as canonical (RFC 8785)
        // text, so a top-level member that matches appears in it as `"name":<canonical value>`
        // (or its start). Rows without that text are rejected by a substring search, without
        // parsing their JSON; the JSON test above still decides for the rest.
        let sql = match member_needles(c) {
            Some((col, needles)) => {
                let tests: Vec<String> = needles
                    .into_iter()
                    .map(|n| {
                        args.push(Sql::Text(n));
                        format!("instr({col}, ?{}) > 0", args.len())
                    })
                    .collect();
                format!("({}) AND {sql}", tests.join(" OR "))
            }
            None => sql,
        };
        // Text that is not JSON (damaged, or a store entry's empty params) has no members:
        // it matches `$exists: false` and no other JSON condition, and never fails the call.
        let sql = match c {
            Cond::Exists { field, exists: false, .. } => format!("(NOT json_valid({}) OR {sql})", field.column()),
            Cond::Eq { field, .. }
            | Cond::In { field, .. }
            | Cond::Prefix { field, .. }
            | Cond::Glob { field, .. }
            | Cond::Exists { field, .. } => format!("(json_valid({}) AND {sql})", field.column()),
            _ => sql,
        };
        parts.push(sql);
    }
    if parts.is_empty() {
        "1".to_string()
    } else {
        parts.join(" AND ")
    }
}

/// The texts of which at least one must occur in the canonical column text for `c` to hold,
/// or `None` when there is no such test (`$exists: false`, conditions on other columns).
fn member_needles(c: &Cond) -> Option<(&'static str, Vec<String>)> {
    use crate::cache::keys::canonical_value;
    use serde_json::Value as J;
    let member = |name: &str| format!("{}:", canonical_value(&J::String(name.to_string())));
    let (field, needles) = match c {
        Cond::Eq { field, name, value } => (field, vec![member(name) + &canonical_value(value)]),
        Cond::In { field, name, values } if !values.is_empty() => {
            (field, values.iter().map(|v| member(name) + &canonical_value(v)).collect())
        }
        Cond::Prefix { field, name, prefix } => {
            let mut quoted = canonical_value(&J::String(prefix.clone()));
            quoted.pop(); // the closing quote: the member's text only starts with the prefix
            (field, vec![member(name) + &quoted])
        }
        Cond::Glob { field, name, .. } => (field, vec![member(name) + "\""]),
        Cond::Exists { field, name, exists: true } => (field, vec![member(name)]),
        _ => return None,
    };
    Some((field.column(), needles))
}

/// `ns = ?1` for a statement over the rows a filter selects. When no condition can use an
/// index (only JSON and size tests), the unary `+` keeps SQLite from walking an (ns, ...) index
/// and fetching every row through it: one pass over the table is several times faster.
fn ns_term(f: &Filter) -> &'static str {
    let indexed = f.0.iter().any(|c| {
        matches!(
            c,
            Cond::KeyPrefix(_)
                | Cond::CreatedBefore(_)
                | Cond::CreatedAfter(_)
                | Cond::AccessedBefore(_)
                | Cond::ExpiresBefore(_)
        )
    });
    if indexed {
        "ns = ?1"
    } else {
        "+ns = ?1"
    }
}

/// Pushes `v` and numbers the one `?` in `sql` after it.
fn bind(args: &mut Vec<Sql>, v: Sql, sql: &str) -> String {
    args.push(v);
    sql.replacen('?', &format!("?{}", args.len()), 1)
}

/// JSON array text of keys, for `key IN (SELECT value FROM json_each(?))`: one statement per batch.
fn keys_json(keys: &[&str]) -> String {
    serde_json::to_string(keys).unwrap_or_else(|_| "[]".into())
}

/// Records for `keys`, in order, without their data (what a write transaction reads first).
fn load_many(conn: &Connection, ns: &str, keys: &[&str]) -> Result<Vec<Option<Record>>> {
    Ok(read_many(conn, ns, keys, &Filter::all(), false)?.into_iter().map(|l| l.map(|(r, _)| r)).collect())
}

/// Records for `keys` (with their inline data when `data`), in order (a key given twice comes
/// back twice), by one statement: the key list is walked in order and each key is one index
/// lookup, so the rows arrive in the caller's order with their position, and nothing is looked
/// up or copied twice.
fn read_many(c: &Connection, ns: &str, keys: &[&str], cond: &Filter, data: bool) -> Result<Vec<Option<Loaded>>> {
    let mut args = vec![Sql::Text(ns.into()), Sql::Text(keys_json(keys))];
    // The list's columns renamed, so that the filter's unqualified names mean the entry's.
    let sql = format!(
        "SELECT pos, {COLS}{} FROM (SELECT key AS pos, value AS wanted FROM json_each(?2)) \
         CROSS JOIN entries WHERE ns = ?1 AND key = wanted AND ({})",
        if data { ", inline" } else { "" },
        where_sql(cond, &mut args)
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let mut out: Vec<Option<Loaded>> = Vec::with_capacity(keys.len());
    out.resize_with(keys.len(), || None);
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    while let Some(row) = rows.next()? {
        let at: i64 = row.get(0)?;
        let rec = record_at(row, 1).map_err(|e| Error::corrupt(format!("unreadable record: {e}")))?;
        let inline: Option<Vec<u8>> = if data { row.get(15)? } else { None };
        if let Some(slot) = usize::try_from(at).ok().and_then(|i| out.get_mut(i)) {
            *slot = Some((rec, inline));
        }
    }
    Ok(out)
}

/// Writes `r` under its key: an UPDATE when the record `exists` (with `Payload::Keep` the data
/// columns stay as they are), else an INSERT. The transaction read the current record first,
/// so no upsert (and no statement journal) is needed.
fn insert_or_replace(conn: &Connection, ns: &str, r: &Record, payload: &Payload, exists: bool) -> Result<()> {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    fn text(s: &str) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
    }
    let int = |v: u64| ToSqlOutput::Owned(int(v));
    let mut args: Vec<ToSqlOutput<'_>> = vec![
        text(ns),
        text(&r.key),
        text(&r.params),
        text(&r.data_type),
        text(&r.description),
        int(r.size),
        text(&r.content_hash),
        int(r.version),
        ToSqlOutput::Owned(Sql::Integer(r.created_at)),
        ToSqlOutput::Owned(Sql::Integer(r.accessed_at)),
        int(r.access_count),
        ToSqlOutput::Owned(r.expires_at.map_or(Sql::Null, Sql::Integer)),
        text(&r.metadata),
        text(&r.signature),
    ];
    const SET: &str = "params = ?3, data_type = ?4, description = ?5, size = ?6, content_hash = ?7, \
        version = ?8, created_at = ?9, accessed_at = ?10, access_count = ?11, expires_at = ?12, \
        metadata = ?13, signature = ?14";
    let sql = match payload {
        Payload::Keep => format!("UPDATE entries SET {SET} WHERE ns = ?1 AND key = ?2"),
        Payload::Inline(_) | Payload::Blob => {
            match payload {
                Payload::Inline(d) => {
                    args.push(ToSqlOutput::Owned(Sql::Null));
                    args.push(ToSqlOutput::Borrowed(ValueRef::Blob(d)));
                }
                _ => {
                    args.push(r.blob.as_deref().map_or(ToSqlOutput::Owned(Sql::Null), text));
                    args.push(ToSqlOutput::Owned(Sql::Null));
                }
            }
            if exists {
                format!("UPDATE entries SET {SET}, blob = ?15, inline = ?16 WHERE ns = ?1 AND key = ?2")
            } else {
                "INSERT INTO entries (ns, key, params, data_type, description, size, content_hash, version, \
                 created_at, accessed_at, access_count, expires_at, metadata, signature, blob, inline) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
                    .to_string()
            }
        }
    };
    let n = conn.prepare_cached(&sql)?.execute(params_from_iter(args.iter()))?;
    if n != 1 {
        return Err(Error::backend(format!("writing a record changed {n} rows, not 1")));
    }
    Ok(())
}

/// Adds to the entry count and total size of `ns` (in the caller's transaction).
fn bump_totals(conn: &Connection, ns: &str, entries: i64, size: i64) -> Result<()> {
    if entries != 0 || size != 0 {
        conn.prepare_cached(
            "INSERT INTO ns_totals (ns, entries, total_size) VALUES (?1, ?2, ?3) \
             ON CONFLICT (ns) DO UPDATE SET entries = entries + ?2, total_size = total_size + ?3",
        )?
        .execute(rusqlite::params![ns, entries, size])?;
    }
    Ok(())
}

fn size_of(r: &Record) -> i64 {
    r.size.min(i64::MAX as u64) as i64
}

/// Evicts least recently accessed records of `ns` (never `protect`) until the total fits.
fn evict(conn: &Connection, ns: &str, limit: u64, protect: &[&str], out: &mut Outcome) -> Result<()> {
    let total: i64 =
        conn.query_row("SELECT total_size FROM ns_totals WHERE ns = ?1", [ns], |r| r.get(0)).optional()?.unwrap_or(0);
    let mut excess = total - limit.min(i64::MAX as u64) as i64;
    if excess <= 0 {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT key, size, blob FROM entries WHERE ns = ?1 AND key NOT IN (SELECT value FROM json_each(?2)) \
         ORDER BY accessed_at, key",
    )?;
    let mut victims = Vec::new();
    let mut rows = stmt.query(rusqlite::params![ns, keys_json(protect)])?;
    while excess > 0 {
        let Some(row) = rows.next()? else { break };
        let (key, size, blob): (String, i64, Option<String>) = (row.get(0)?, row.get(1)?, row.get(2)?);
        excess -= size;
        victims.push((key, size, blob));
    }
    drop(rows);
    let mut del = conn.prepare_cached("DELETE FROM entries WHERE ns = ?1 AND key = ?2")?;
    let (mut n, mut freed) = (0i64, 0i64);
    for (key, size, blob) in victims {
        // The sizes were read in this write transaction: nothing can have changed them.
        if del.execute(rusqlite::params![ns, key])? == 1 {
            n += 1;
            freed += size;
        }
        out.evicted += 1;
        out.dead_blobs.extend(blob);
    }
    bump_totals(conn, ns, -n, -freed)
}

impl MetadataBackend for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn get(&self, ns: &str, key: &str) -> Result<Option<Record>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {COLS} FROM entries WHERE ns = ?1 AND key = ?2"))?;
            Ok(stmt.query_row(rusqlite::params![ns, key], row_to_record).optional()?)
        })
    }

    fn read(&self, ns: &str, keys: &[&str], cond: &Filter, access: Option<i64>) -> Result<Vec<Option<Loaded>>> {
        // The hot path (one key, alive at t, no access write): a constant statement, no SQL
        // building, no map.
        if let ([key], [Cond::AliveAt(t)], None) = (keys, cond.0.as_slice(), access) {
            return self.with(|c| {
                let mut stmt = c.prepare_cached(READ_ONE_ALIVE)?;
                let mut rows = stmt.query(rusqlite::params![ns, key, t])?;
                match rows.next()? {
                    None => Ok(vec![None]),
                    Some(row) => {
                        let rec = row_to_record(row).map_err(|e| Error::corrupt(format!("unreadable record: {e}")))?;
                        Ok(vec![Some((rec, row.get(14)?))])
                    }
                }
            });
        }
        if access.is_none() && keys.len() > 1 {
            return self.with(|c| read_many(c, ns, keys, cond, true));
        }
        self.with(|c| {
            let mut args = vec![Sql::Text(ns.into()), Sql::Text(keys_json(keys))];
            let mut sql = match access {
                Some(now) => {
                    args.push(Sql::Integer(now));
                    format!(
                        "UPDATE entries SET accessed_at = ?3, access_count = access_count + 1 WHERE ns = ?1 \
                         AND key IN (SELECT value FROM json_each(?2)) AND ({}) RETURNING {COLS}, inline",
                        where_sql(cond, &mut args)
                    )
                }
                None => format!(
                    "SELECT {COLS}, inline FROM entries WHERE ns = ?1 \
                     AND key IN (SELECT value FROM json_each(?2)) AND ({})",
                    where_sql(cond, &mut args)
                ),
            };
            if keys.len() == 1 {
                // One key: the index lookup is simpler than json_each.
                sql = sql.replace("key IN (SELECT value FROM json_each(?2))", "key = ?2");
                args[1] = Sql::Text(keys[0].to_string());
            }
            let mut stmt = c.prepare_cached(&sql)?;
            let mut found = std::collections::HashMap::with_capacity(keys.len());
            let mut rows = stmt.query(params_from_iter(args.iter()))?;
            while let Some(row) = rows.next()? {
                let rec = row_to_record(row).map_err(|e| Error::corrupt(format!("unreadable record: {e}")))?;
                let inline: Option<Vec<u8>> = row.get(14)?;
                found.insert(rec.key.clone(), (rec, inline));
            }
            drop(rows);
            Ok(keys.iter().map(|k| found.get(*k).cloned()).collect())
        })
    }

    fn transact(&self, ns: &str, keys: &[&str], size_limit: Option<u64>, body: &mut TxBody<'_>) -> Result<Outcome> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current = load_many(&tx, ns, keys)?;
            let actions = body(&current)?;
            if actions.len() != keys.len() {
                return Err(Error::backend("transaction body returned the wrong number of actions"));
            }
            let mut out = Outcome::default();
            let assigned: Vec<String> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::Put(r, Payload::Blob) => r.blob.clone(),
                    _ => None,
                })
                .collect();
            let (mut d_entries, mut d_size) = (0i64, 0i64);
            for ((key, old), action) in keys.iter().zip(&current).zip(actions) {
                match action {
                    Action::Nothing => {}
                    Action::Delete => {
                        if let Some(old) = old {
                            tx.prepare_cached("DELETE FROM entries WHERE ns = ?1 AND key = ?2")?
                                .execute(rusqlite::params![ns, key])?;
                            out.dead_blobs.extend(old.blob.clone());
                            d_entries -= 1;
                            d_size -= size_of(old);
                        }
                    }
                    Action::Put(rec, payload) => {
                        if rec.key != *key {
                            return Err(Error::backend("transaction body put a record under another key"));
                        }
                        if matches!(payload, Payload::Keep) && old.is_none() {
                            return Err(Error::backend("metadata-only write of a missing record"));
                        }
                        insert_or_replace(&tx, ns, &rec, &payload, old.is_some())?;
                        d_size += size_of(&rec) - old.as_ref().map_or(0, size_of);
                        d_entries += i64::from(old.is_none());
                        if let Some(old) = old {
                            // What is stored now, not what the record's field claims.
                            let new_blob = match payload {
                                Payload::Keep => &old.blob,
                                Payload::Inline(_) => &None,
                                Payload::Blob => &rec.blob,
                            };
                            if old.blob.is_some() && old.blob != *new_blob {
                                out.dead_blobs.extend(old.blob.clone());
                            }
                        }
                    }
                }
            }
            // A blob handed from one record to another (a move) is not dead.
            out.dead_blobs.retain(|b| !assigned.contains(b));
            bump_totals(&tx, ns, d_entries, d_size)?;
            if let Some(limit) = size_limit {
                evict(&tx, ns, limit, keys, &mut out)?;
            }
            tx.commit()?;
            self.wrote();
            Ok(out)
        })
    }

    fn delete_where(&self, ns: &str, filter: &Filter) -> Result<(u64, Vec<String>)> {
        self.with(|c| {
            let mut args = vec![Sql::Text(ns.into())];
            let sql = format!(
                "DELETE FROM entries WHERE {} AND ({}) RETURNING blob, size",
                ns_term(filter),
                where_sql(filter, &mut args)
            );
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (mut n, mut freed) = (0u64, 0i64);
            let mut blobs = Vec::new();
            {
                let mut stmt = tx.prepare_cached(&sql)?;
                let mut rows = stmt.query(params_from_iter(args.iter()))?;
                while let Some(row) = rows.next()? {
                    n += 1;
                    if let Some(b) = row.get::<_, Option<String>>(0)? {
                        blobs.push(b);
                    }
                    freed += row.get::<_, i64>(1).unwrap_or(0);
                }
            }
            bump_totals(&tx, ns, -(n as i64), -freed)?;
            tx.commit()?;
            self.wrote();
            Ok((n, blobs))
        })
    }

    fn set_expiry_where(&self, ns: &str, filter: &Filter, expires_at: Option<i64>) -> Result<u64> {
        self.with(|c| {
            let mut args = vec![Sql::Text(ns.into()), expires_at.map_or(Sql::Null, Sql::Integer)];
            let sql = format!(
                "UPDATE entries SET expires_at = ?2 WHERE {} AND ({})",
                ns_term(filter),
                where_sql(filter, &mut args)
            );
            let n = c.prepare_cached(&sql)?.execute(params_from_iter(args.iter()))?;
            self.wrote();
            Ok(n as u64)
        })
    }

    fn update_where(
        &self,
        ns: &str,
        filter: &Filter,
        body: &mut dyn FnMut(&Record) -> Result<Option<Record>>,
    ) -> Result<u64> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut args = vec![Sql::Text(ns.into())];
            let sql =
                format!("SELECT {COLS} FROM entries WHERE {} AND ({})", ns_term(filter), where_sql(filter, &mut args));
            let records: Vec<Record> = {
                let mut stmt = tx.prepare_cached(&sql)?;
                let rows = stmt.query_map(params_from_iter(args.iter()), row_to_record)?;
                rows.collect::<rusqlite::Result<_>>().map_err(|e| Error::corrupt(format!("unreadable record: {e}")))?
            };
            let mut n = 0;
            let mut d_size = 0i64;
            for r in &records {
                if let Some(new) = body(r)? {
                    insert_or_replace(&tx, ns, &new, &Payload::Keep, true)?;
                    d_size += size_of(&new) - size_of(r);
                    n += 1;
                }
            }
            bump_totals(&tx, ns, 0, d_size)?;
            tx.commit()?;
            self.wrote();
            Ok(n)
        })
    }

    fn list(
        &self,
        ns: &str,
        filter: &Filter,
        order: Order,
        after: Option<&(Value, String)>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        self.with(|c| {
            let mut args = vec![Sql::Text(ns.into())];
            let mut sql = format!("SELECT {COLS} FROM entries WHERE ns = ?1 AND ({})", where_sql(filter, &mut args));
            let col = order.column();
            if let Some((v, k)) = after {
                let v = match v {
                    Value::Int(i) => Sql::Integer(*i),
                    Value::Text(t) => Sql::Text(t.clone()),
                };
                if order == Order::Key {
                    args.push(Sql::Text(k.clone()));
                    sql += &format!(" AND key > ?{}", args.len());
                } else {
                    args.push(v);
                    let a = args.len();
                    args.push(Sql::Text(k.clone()));
                    sql += &format!(" AND ({col} > ?{a} OR ({col} = ?{a} AND key > ?{}))", args.len());
                }
            }
            if order == Order::Key {
                sql += " ORDER BY key";
            } else {
                sql += &format!(" ORDER BY {col}, key");
            }
            args.push(int(limit as u64));
            sql += &format!(" LIMIT ?{}", args.len());
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args.iter()), row_to_record)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| Error::corrupt(format!("unreadable record: {e}")))
        })
    }

    fn scan(&self, ns: &str, after_key: Option<&str>, limit: usize) -> Result<Vec<Scanned>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLS} FROM entries WHERE ns = ?1 AND key > ?2 ORDER BY key LIMIT ?3"
            ))?;
            let mut rows = stmt.query(rusqlite::params![ns, after_key.unwrap_or(""), limit as i64])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(match row_to_record(row) {
                    Ok(r) => Scanned::Ok(r),
                    Err(e) => {
                        Scanned::Invalid { key: row.get::<_, String>(0).unwrap_or_default(), reason: e.to_string() }
                    }
                });
            }
            Ok(out)
        })
    }

    fn totals(&self, ns: &str) -> Result<(u64, u64)> {
        self.with(|c| {
            let t: Option<(i64, i64)> = c
                .prepare_cached("SELECT entries, total_size FROM ns_totals WHERE ns = ?1")?
                .query_row([ns], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let (n, s) = t.unwrap_or((0, 0));
            Ok((n.max(0) as u64, s.max(0) as u64))
        })
    }

    fn referenced_blobs(&self, ids: &[String]) -> Result<Vec<String>> {
        self.with(|c| {
            let mut stmt =
                c.prepare_cached("SELECT DISTINCT blob FROM entries WHERE blob IN (SELECT value FROM json_each(?1))")?;
            let json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
            let rows = stmt.query_map([json], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn add_access(&self, ns: &str, items: &[AccessNote]) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(
                    "UPDATE entries SET accessed_at = max(accessed_at, ?3), access_count = access_count + ?4 \
                     WHERE ns = ?1 AND key = ?2 AND version = ?5",
                )?;
                for (key, v, t, n) in items {
                    stmt.execute(rusqlite::params![ns, key, t, int(*n), int(*v)])?;
                }
            }
            tx.commit()?;
            self.wrote();
            Ok(())
        })
    }

    fn remove_raw(&self, ns: &str, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let gone: Option<(Option<String>, i64)> = tx
                .prepare_cached("DELETE FROM entries WHERE ns = ?1 AND key = ?2 RETURNING blob, size")?
                .query_row(rusqlite::params![ns, key], |r| Ok((r.get(0).unwrap_or(None), r.get(1).unwrap_or(0))))
                .optional()?;
            if let Some((_, size)) = &gone {
                bump_totals(&tx, ns, -1, -size)?;
            }
            tx.commit()?;
            self.wrote();
            Ok(gone.and_then(|g| g.0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::filter::Field;

    #[test]
    fn filters_compile_to_one_condition() {
        let f = Filter(vec![
            Cond::KeyPrefix("ab*".into()),
            Cond::Eq { field: Field::Params, name: "x".into(), value: serde_json::json!(1) },
        ]);
        let mut args = Vec::new();
        let sql = where_sql(&f, &mut args);
        assert!(sql.starts_with("key GLOB ?1 AND "), "{sql}");
        assert_eq!(args[0], Sql::Text("ab[*]*".into()));
        let mut args = Vec::new();
        let sql = where_sql(&Filter(vec![Cond::AliveAt(5), Cond::MinSize(1)]), &mut args);
        assert_eq!(sql, "(expires_at IS NULL OR expires_at > ?1) AND size >= ?2");
    }
}
