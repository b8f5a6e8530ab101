//! PostgreSQL metadata backend: one `r2d2` pool of `postgres` connections per instance, the
//! schema created and migrated on open under an advisory lock (several processes may open the
//! same database at once), per-namespace totals kept exact by statement-level triggers, and
//! filters compiled from the same [`Filter`] AST as SQLite's into one set-based statement.
//!
//! Concurrency: every call runs in READ COMMITTED. `transact` takes a transaction-scoped
//! advisory lock per key (sorted, so two transactions never wait on each other in a cycle; it
//! also covers keys that have no row yet) and then `SELECT ... FOR UPDATE` on the rows, so
//! concurrent read-modify-writes of one key serialize and never lose an update. Eviction skips
//! rows other transactions hold (`SKIP LOCKED`). Deadlocks and serialization failures are
//! retried a few times, then reported as `CACHENESS_BUSY`.
//!
//! `params` and `metadata` are stored as the exact text the cache layer wrote (it relies on the
//! canonical text round-tripping byte for byte); generated `jsonb` columns beside them serve the
//! filters (NULL when the text is not JSON, as for a store entry's empty params).

use super::filter::{Cond, Field, Filter, Order, Value};
use super::{Action, Loaded, MetadataBackend, Outcome, Payload, Record, Scanned, TxBody};
use crate::error::{Code, Error, Result};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

type Manager = PostgresConnectionManager<NoTls>;

/// The schema version this library writes. Opening a database with an older version migrates
/// it; a newer one is refused.
pub const SCHEMA_VERSION: i64 = 1;

/// How many times a call is attempted when PostgreSQL reports a deadlock or a serialization
/// failure before it gives up with `CACHENESS_BUSY`.
const ATTEMPTS: u32 = 8;

/// Connections per instance (per open cache handle).
const POOL_SIZE: u32 = 8;

/// Advisory lock (two-int4 key space) held while the schema is created or migrated.
const SCHEMA_LOCK: (i32, i32) = (0x6361_6368, 0x6e65_7373);

const COLS: &str = "key, params, data_type, description, size, content_hash, version, created_at, \
                    accessed_at, access_count, expires_at, metadata, blob, signature";

/// `MIGRATIONS[i]` brings a database from schema version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[r#"
CREATE OR REPLACE FUNCTION cacheness_jsonb(t text) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $f$
BEGIN
    RETURN t::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$f$;

CREATE OR REPLACE FUNCTION cacheness_lock_keys(ids bigint[]) RETURNS void
    LANGUAGE plpgsql AS $f$
DECLARE
    i bigint;
BEGIN
    FOREACH i IN ARRAY ids LOOP
        PERFORM pg_advisory_xact_lock(i);
    END LOOP;
END
$f$;

CREATE TABLE IF NOT EXISTS cacheness_entries (
    ns text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    params text NOT NULL,
    data_type text NOT NULL,
    description text NOT NULL,
    size bigint NOT NULL,
    content_hash text NOT NULL,
    version bigint NOT NULL,
    created_at bigint NOT NULL,
    accessed_at bigint NOT NULL,
    access_count bigint NOT NULL,
    expires_at bigint,
    metadata text NOT NULL,
    blob text,
    inline bytea,
    signature text NOT NULL,
    params_j jsonb GENERATED ALWAYS AS (cacheness_jsonb(params)) STORED,
    metadata_j jsonb GENERATED ALWAYS AS (cacheness_jsonb(metadata)) STORED,
    PRIMARY KEY (ns, key)
);
CREATE INDEX IF NOT EXISTS cacheness_entries_created ON cacheness_entries (ns, created_at, key);
CREATE INDEX IF NOT EXISTS cacheness_entries_accessed ON cacheness_entries (ns, accessed_at, key);
CREATE INDEX IF NOT EXISTS cacheness_entries_expires ON cacheness_entries (ns, expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS cacheness_entries_blob ON cacheness_entries (blob) WHERE blob IS NOT NULL;

CREATE TABLE IF NOT EXISTS cacheness_totals (
    ns text COLLATE "C" PRIMARY KEY,
    entries bigint NOT NULL,
    total_size bigint NOT NULL
);

CREATE OR REPLACE FUNCTION cacheness_totals_ins() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO cacheness_totals AS t (ns, entries, total_size)
        SELECT ns, count(*), sum(size) FROM cacheness_new GROUP BY ns
        ON CONFLICT (ns) DO UPDATE SET entries = t.entries + excluded.entries,
                                       total_size = t.total_size + excluded.total_size;
    RETURN NULL;
END
$f$;

CREATE OR REPLACE FUNCTION cacheness_totals_del() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    UPDATE cacheness_totals AS t SET entries = t.entries - d.n, total_size = t.total_size - d.s
        FROM (SELECT ns, count(*) AS n, sum(size) AS s FROM cacheness_old GROUP BY ns) AS d
        WHERE t.ns = d.ns;
    RETURN NULL;
END
$f$;

CREATE OR REPLACE FUNCTION cacheness_totals_upd() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    UPDATE cacheness_totals AS t SET total_size = t.total_size + d.s
        FROM (SELECT ns, sum(s) AS s FROM (
                  SELECT ns, size AS s FROM cacheness_new
                  UNION ALL SELECT ns, -size FROM cacheness_old) AS x
              GROUP BY ns HAVING sum(s) <> 0) AS d
        WHERE t.ns = d.ns;
    RETURN NULL;
END
$f$;

DROP TRIGGER IF EXISTS cacheness_entries_ins ON cacheness_entries;
CREATE TRIGGER cacheness_entries_ins AFTER INSERT ON cacheness_entries
    REFERENCING NEW TABLE AS cacheness_new
    FOR EACH STATEMENT EXECUTE FUNCTION cacheness_totals_ins();
DROP TRIGGER IF EXISTS cacheness_entries_del ON cacheness_entries;
CREATE TRIGGER cacheness_entries_del AFTER DELETE ON cacheness_entries
    REFERENCING OLD TABLE AS cacheness_old
    FOR EACH STATEMENT EXECUTE FUNCTION cacheness_totals_del();
DROP TRIGGER IF EXISTS cacheness_entries_upd ON cacheness_entries;
CREATE TRIGGER cacheness_entries_upd AFTER UPDATE ON cacheness_entries
    REFERENCING OLD TABLE AS cacheness_old NEW TABLE AS cacheness_new
    FOR EACH STATEMENT EXECUTE FUNCTION cacheness_totals_upd();
"#];

/// Why a unit of work failed: worth another attempt (deadlock, serialization failure), or not.
enum Fail {
    Retry(String),
    Err(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Err(e)
    }
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        match e.code() {
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED => {
                Fail::Retry(describe(&e))
            }
            _ => Fail::Err(pg_error(&e)),
        }
    }
}

/// A readable one-line description of a driver error (the driver's Display omits the cause).
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s += &format!(": {d}");
        }
        return s;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Maps a driver error to the crate's error: lost connections and server errors are BACKEND,
/// lock trouble BUSY.
fn pg_error(e: &postgres::Error) -> Error {
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::LOCK_NOT_AVAILABLE =>
        {
            Error::new(Code::Busy, format!("postgres: {}", describe(e)))
        }
        Some(c) if *c == SqlState::DISK_FULL => Error::io(format!("postgres: {}", describe(e))),
        Some(_) => Error::backend(format!("postgres: {}", describe(e))),
        None if e.is_closed() => Error::backend(format!("postgres: connection to the server lost: {}", describe(e))),
        None => Error::backend(format!("postgres: {}", describe(e))),
    }
}

/// Prepared statements of one pooled connection, kept in the pool's per-connection extensions.
#[derive(Default)]
struct Statements(HashMap<String, Statement>);

/// One checked-out connection. Rolls back an unfinished transaction when dropped.
struct Session {
    conn: PooledConnection<Manager>,
    stmts: Statements,
    in_tx: bool,
}

impl Session {
    fn client(&mut self) -> &mut Client {
        &mut self.conn
    }

    fn prepare(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        if let Some(s) = self.stmts.0.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client().prepare(sql)?;
        if self.stmts.0.len() >= 256 {
            self.stmts.0.clear();
        }
        self.stmts.0.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &str, args: &[&(dyn ToSql + Sync)]) -> std::result::Result<Vec<Row>, postgres::Error> {
        let st = self.prepare(sql)?;
        self.client().query(&st, args)
    }

    fn execute(&mut self, sql: &str, args: &[&(dyn ToSql + Sync)]) -> std::result::Result<u64, postgres::Error> {
        let st = self.prepare(sql)?;
        self.client().execute(&st, args)
    }

    fn begin(&mut self) -> std::result::Result<(), postgres::Error> {
        self.client().batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")?;
        self.in_tx = true;
        Ok(())
    }

    fn commit(&mut self) -> std::result::Result<(), postgres::Error> {
        self.in_tx = false;
        self.client().batch_execute("COMMIT")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.in_tx {
            let _ = self.conn.batch_execute("ROLLBACK");
        }
        let stmts = std::mem::take(&mut self.stmts);
        PooledConnection::extensions_mut(&mut self.conn).insert(stmts);
    }
}

/// Arguments of a statement being built.
#[derive(Default)]
struct Args(Vec<Box<dyn ToSql + Sync + Send>>);

impl Args {
    /// Adds an argument and returns its placeholder (`$n`).
    fn push<T: ToSql + Sync + Send + 'static>(&mut self, v: T) -> String {
        self.0.push(Box::new(v));
        format!("${}", self.0.len())
    }
    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

fn int(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

fn row_to_record(row: &Row) -> std::result::Result<Record, String> {
    fn get<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> std::result::Result<T, String> {
        row.try_get(i).map_err(|e| format!("column {}: {}", i, describe(&e)))
    }
    fn unsigned(row: &Row, i: usize, name: &str) -> std::result::Result<u64, String> {
        let v: i64 = get(row, i)?;
        u64::try_from(v).map_err(|_| format!("{name} is negative ({v})"))
    }
    Ok(Record {
        key: get(row, 0)?,
        params: get(row, 1)?,
        data_type: get(row, 2)?,
        description: get(row, 3)?,
        size: unsigned(row, 4, "size")?,
        content_hash: get(row, 5)?,
        version: unsigned(row, 6, "version")?,
        created_at: get(row, 7)?,
        accessed_at: get(row, 8)?,
        access_count: unsigned(row, 9, "access_count")?,
        expires_at: get(row, 10)?,
        metadata: get(row, 11)?,
        blob: get(row, 12)?,
        signature: get(row, 13)?,
    })
}

fn record(row: &Row) -> Result<Record> {
    row_to_record(row).map_err(|e| Error::corrupt(format!("unreadable record: {e}")))
}

/// The advisory lock id of one key of one namespace: stable across processes and versions.
fn lock_id(ns: &str, key: &str) -> i64 {
    let mut h = Sha256::new();
    h.update(ns.as_bytes());
    h.update([0u8]);
    h.update(key.as_bytes());
    let d = h.finalize();
    i64::from_be_bytes(d[..8].try_into().unwrap_or([0; 8]))
}

fn contains_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match v {
        J::String(s) => s.contains('\0'),
        J::Array(a) => a.iter().any(contains_nul),
        J::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

fn jcol(field: Field) -> &'static str {
    match field {
        Field::Params => "params_j",
        Field::Metadata => "metadata_j",
    }
}

/// SQL for "member `name` of `field` equals `v`" (JSON equality: numbers by value, objects
/// regardless of member order: exactly jsonb's `=`).
fn json_eq_pg(field: Field, name: &str, v: &serde_json::Value, args: &mut Args) -> String {
    if contains_nul(v) {
        // jsonb cannot hold U+0000, so no stored document has such a member.
        return "FALSE".into();
    }
    let n = args.push(name.to_string());
    let x = args.push(serde_json::to_string(v).unwrap_or_else(|_| "null".into()));
    format!("({} -> {n}::text) = {x}::text::jsonb", jcol(field))
}

/// Compiles a filter to a SQL condition over `cacheness_entries`, pushing its arguments.
fn where_pg(f: &Filter, args: &mut Args) -> String {
    let mut parts = Vec::new();
    for c in &f.0 {
        let sql = match c {
            Cond::KeyPrefix(p) => {
                if p.is_empty() {
                    continue;
                }
                // `key` is COLLATE "C": the lower bound is an index range, starts_with is exact.
                let x = args.push(p.clone());
                format!("(key >= {x}::text AND starts_with(key, {x}::text))")
            }
            Cond::DataType(t) => format!("data_type = {}::text", args.push(t.clone())),
            Cond::CreatedBefore(t) => format!("created_at < {}::bigint", args.push(*t)),
            Cond::CreatedAfter(t) => format!("created_at > {}::bigint", args.push(*t)),
            Cond::AccessedBefore(t) => format!("accessed_at < {}::bigint", args.push(*t)),
            Cond::ExpiresBefore(t) => {
                format!("(expires_at IS NOT NULL AND expires_at < {}::bigint)", args.push(*t))
            }
            Cond::MinSize(n) => format!("size >= {}::bigint", args.push(int(*n))),
            Cond::MaxSize(n) => format!("size <= {}::bigint", args.push(int(*n))),
            Cond::AliveAt(t) => format!("(expires_at IS NULL OR expires_at > {}::bigint)", args.push(*t)),
            Cond::Eq { field, name, value } => json_eq_pg(*field, name, value, args),
            Cond::In { field, name, values } => {
                if values.is_empty() {
                    "FALSE".to_string()
                } else {
                    let ors: Vec<String> = values.iter().map(|v| json_eq_pg(*field, name, v, args)).collect();
                    format!("({})", ors.join(" OR "))
                }
            }
            Cond::Prefix { field, name, prefix } => {
                let col = jcol(*field);
                let n = args.push(name.clone());
                let p = args.push(prefix.clone());
                format!("(jsonb_typeof({col} -> {n}::text) = 'string' AND starts_with({col} ->> {n}::text, {p}::text))")
            }
            Cond::Glob { field, name, pattern } => match glob_to_regex(pattern) {
                None => "FALSE".to_string(),
                Some(re) => {
                    let col = jcol(*field);
                    let n = args.push(name.clone());
                    let r = args.push(re);
                    format!(
                        "(jsonb_typeof({col} -> {n}::text) = 'string' AND \
                         ({col} ->> {n}::text) COLLATE \"C\" ~ {r}::text)"
                    )
                }
            },
            Cond::Exists { field, name, exists } => {
                let not = if *exists { "NOT " } else { "" };
                format!("({} -> {}::text) IS {not}NULL", jcol(*field), args.push(name.clone()))
            }
        };
        parts.push(sql);
    }
    if parts.is_empty() {
        "TRUE".to_string()
    } else {
        parts.join(" AND ")
    }
}

/// One character as a PostgreSQL regular-expression atom that matches exactly that character.
fn regex_char(c: char, out: &mut String) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else if (c as u32) <= 0xFFFF {
        out.push_str(&format!("\\u{:04x}", c as u32));
    } else {
        out.push_str(&format!("\\U{:08x}", c as u32));
    }
}

/// Translates a glob with SQLite's GLOB semantics to an anchored PostgreSQL (ARE) regular
/// expression. `None` when the glob can match nothing (an unterminated `[...]`).
///
/// SQLite's rules, followed exactly: `*` any run, `?` one character, `[...]` one character of
/// the set, `[^...]` one not in it; a `]` right after `[` or `[^` is literal; `x-y` is a range
/// when a literal character precedes the `-` (not a leading `]`, not the end of a previous range)
/// and a character other than `]` follows; `x` itself always matches (so `[c-a]` matches `c`);
/// matching is by code point and case-sensitive.
pub(crate) fn glob_to_regex(pattern: &str) -> Option<String> {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = String::from("^");
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => {
                out.push_str(".*");
                i += 1;
            }
            '?' => {
                out.push('.');
                i += 1;
            }
            '[' => {
                i += 1;
                let invert = p.get(i) == Some(&'^');
                if invert {
                    i += 1;
                }
                let mut items: Vec<(char, char)> = Vec::new();
                if p.get(i) == Some(&']') {
                    items.push((']', ']'));
                    i += 1;
                }
                let mut prior: Option<char> = None;
                loop {
                    let c2 = *p.get(i)?;
                    if c2 == ']' {
                        i += 1;
                        break;
                    }
                    let next = p.get(i + 1).copied();
                    match (c2, prior, next) {
                        ('-', Some(lo), Some(hi)) if hi != ']' => {
                            if lo <= hi {
                                items.push((lo, hi));
                            }
                            prior = None;
                            i += 2;
                        }
                        _ => {
                            items.push((c2, c2));
                            prior = Some(c2);
                            i += 1;
                        }
                    }
                }
                if items.is_empty() {
                    if invert {
                        out.push('.');
                        continue;
                    }
                    return None;
                }
                out.push('[');
                if invert {
                    out.push('^');
                }
                for (lo, hi) in items {
                    regex_char(lo, &mut out);
                    if hi != lo {
                        out.push('-');
                        regex_char(hi, &mut out);
                    }
                }
                out.push(']');
            }
            c => {
                regex_char(c, &mut out);
                i += 1;
            }
        }
    }
    out.push('$');
    Some(out)
}

/// Records as one array per column, for a single `UPDATE ... FROM unnest(...)`.
#[derive(Default)]
struct Columns {
    key: Vec<String>,
    params: Vec<String>,
    data_type: Vec<String>,
    description: Vec<String>,
    size: Vec<i64>,
    content_hash: Vec<String>,
    version: Vec<i64>,
    created_at: Vec<i64>,
    accessed_at: Vec<i64>,
    access_count: Vec<i64>,
    expires_at: Vec<Option<i64>>,
    metadata: Vec<String>,
    signature: Vec<String>,
}

impl Columns {
    /// `(key of the row to change, its new fields)`.
    fn of(changes: &[(String, Record)]) -> Columns {
        let mut c = Columns::default();
        for (key, r) in changes {
            c.key.push(key.clone());
            c.params.push(r.params.clone());
            c.data_type.push(r.data_type.clone());
            c.description.push(r.description.clone());
            c.size.push(int(r.size));
            c.content_hash.push(r.content_hash.clone());
            c.version.push(int(r.version));
            c.created_at.push(r.created_at);
            c.accessed_at.push(r.accessed_at);
            c.access_count.push(int(r.access_count));
            c.expires_at.push(r.expires_at);
            c.metadata.push(r.metadata.clone());
            c.signature.push(r.signature.clone());
        }
        c
    }
}

/// PostgreSQL metadata backend.
pub struct Postgres {
    pool: Pool<Manager>,
}

impl Postgres {
    /// Connects to `url` (a `postgres://` URL or a `key=value` connection string), creates or
    /// migrates the schema, and keeps a pool of connections. `durable`: every commit waits for
    /// the server's WAL flush (`synchronous_commit = on`), whatever the server's default.
    pub fn open(url: &str, durable: bool) -> Result<Self> {
        let mut config = postgres::Config::from_str(url)
            .map_err(|e| Error::invalid(format!("invalid postgres_url: {}", describe(&e))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("cacheness");
        }
        // Wait for a lock as long as SQLite waits for a writer, then CACHENESS_BUSY (unless the
        // URL says otherwise); "full" durability waits for the WAL flush whatever the server says.
        let mut opts = config.get_options().unwrap_or("").to_string();
        if !opts.contains("lock_timeout") {
            opts += &format!(" -c lock_timeout={}", super::sqlite::BUSY_TIMEOUT.as_millis());
        }
        if durable {
            opts += " -c synchronous_commit=on";
        }
        config.options(opts.trim());
        let target = describe_target(&config);
        // One direct connection first: a refused or failed connection is reported at once with
        // the driver's reason (the pool would only time out).
        let mut client = config
            .connect(NoTls)
            .map_err(|e| Error::backend(format!("postgres: cannot connect to {target}: {}", describe(&e))))?;
        migrate(&mut client).map_err(|e| e.context("postgres: creating the schema"))?;
        drop(client);
        let pool = Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(0))
            // No reaper jobs: with them r2d2 keeps its worker threads alive ~30 s after the
            // handle closes (threads pile up in programs that open and close caches).
            .idle_timeout(None)
            .max_lifetime(None)
            .connection_timeout(Duration::from_secs(30))
            .build_unchecked(PostgresConnectionManager::new(config, NoTls));
        Ok(Postgres { pool })
    }

    fn session(&self) -> Result<Session> {
        let mut conn = self.pool.get().map_err(|e| {
            let msg = e.to_string();
            if msg == "timed out waiting for connection" {
                // Every pooled connection stayed busy: no connection attempt failed.
                Error::new(Code::Busy, format!("postgres: all {POOL_SIZE} connections of this handle stayed busy"))
            } else {
                Error::backend(format!("postgres: no connection to the server: {msg}"))
            }
        })?;
        let stmts = PooledConnection::extensions_mut(&mut conn).remove::<Statements>().unwrap_or_default();
        Ok(Session { conn, stmts, in_tx: false })
    }

    /// Runs `f` on a pooled connection; deadlocks and serialization failures start it again.
    fn run<T>(&self, what: &str, mut f: impl FnMut(&mut Session) -> std::result::Result<T, Fail>) -> Result<T> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                let base = 5u64 << attempt.min(6);
                std::thread::sleep(Duration::from_millis(base + rand::random::<u64>() % base));
            }
            let mut s = self.session()?;
            match f(&mut s) {
                Ok(v) => return Ok(v),
                Err(Fail::Err(e)) => return Err(e),
                Err(Fail::Retry(msg)) => last = msg,
            }
        }
        Err(Error::new(Code::Busy, format!("postgres: {what}: gave up after {ATTEMPTS} attempts: {last}")))
    }
}

/// "host:port/dbname" for messages (never the password).
fn describe_target(c: &postgres::Config) -> String {
    let host = match c.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", c.get_dbname().or(c.get_user()).unwrap_or(""))
}

/// The schema version of the database, if it has one.
fn schema_version(client: &mut impl postgres::GenericClient) -> Result<Option<String>> {
    let exists: bool =
        client.query_one("SELECT to_regclass('cacheness_schema') IS NOT NULL", &[]).map_err(|e| pg_error(&e))?.get(0);
    if !exists {
        return Ok(None);
    }
    Ok(client
        .query_opt("SELECT value FROM cacheness_schema WHERE name = 'schema_version'", &[])
        .map_err(|e| pg_error(&e))?
        .map(|r| r.get(0)))
}

/// Creates or migrates the schema, serialized across processes by an advisory lock. A database
/// already at this version is only read (no lock, no DDL, no CREATE privilege needed).
fn migrate(client: &mut Client) -> Result<()> {
    if schema_version(client)?.as_deref() == Some(SCHEMA_VERSION.to_string().as_str()) {
        return Ok(());
    }
    let mut tx = client.transaction().map_err(|e| pg_error(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&SCHEMA_LOCK.0, &SCHEMA_LOCK.1]).map_err(|e| pg_error(&e))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS cacheness_schema (name text PRIMARY KEY, value text NOT NULL)")
        .map_err(|e| pg_error(&e))?;
    let found: Option<String> = tx
        .query_opt("SELECT value FROM cacheness_schema WHERE name = 'schema_version'", &[])
        .map_err(|e| pg_error(&e))?
        .map(|r| r.get(0));
    let current = match found.as_deref().map(str::parse::<i64>) {
        None => 0,
        Some(Ok(v)) if (0..=SCHEMA_VERSION).contains(&v) => v,
        Some(Ok(v)) if v > SCHEMA_VERSION => {
            return Err(Error::backend(format!(
                "database schema version {v} is newer than this library supports ({SCHEMA_VERSION})"
            )))
        }
        Some(_) => return Err(Error::corrupt("database schema version is unreadable")),
    };
    if current < SCHEMA_VERSION {
        for step in &MIGRATIONS[current as usize..SCHEMA_VERSION as usize] {
            tx.batch_execute(step).map_err(|e| pg_error(&e))?;
        }
        tx.execute(
            "INSERT INTO cacheness_schema (name, value) VALUES ('schema_version', $1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&SCHEMA_VERSION.to_string()],
        )
        .map_err(|e| pg_error(&e))?;
    }
    tx.commit().map_err(|e| pg_error(&e))
}

/// Inserts or fully replaces a record (`Inline`/`Blob`), or rewrites its fields only (`Keep`).
fn write_record(s: &mut Session, ns: &str, r: &Record, payload: &Payload) -> std::result::Result<(), Fail> {
    let size = int(r.size);
    let version = int(r.version);
    let count = int(r.access_count);
    let base: [&(dyn ToSql + Sync); 14] = [
        &ns,
        &r.key,
        &r.params,
        &r.data_type,
        &r.description,
        &size,
        &r.content_hash,
        &version,
        &r.created_at,
        &r.accessed_at,
        &count,
        &r.expires_at,
        &r.metadata,
        &r.signature,
    ];
    match payload {
        Payload::Keep => {
            s.execute(
                "UPDATE cacheness_entries SET params = $3, data_type = $4, description = $5, size = $6, \
                 content_hash = $7, version = $8, created_at = $9, accessed_at = $10, access_count = $11, \
                 expires_at = $12, metadata = $13, signature = $14 WHERE ns = $1 AND key = $2",
                &base,
            )?;
        }
        Payload::Inline(_) | Payload::Blob => {
            let (blob, inline): (Option<&str>, Option<&[u8]>) = match payload {
                Payload::Inline(d) => (None, Some(d.as_slice())),
                _ => (r.blob.as_deref(), None),
            };
            let mut all: Vec<&(dyn ToSql + Sync)> = base.to_vec();
            all.push(&blob);
            all.push(&inline);
            s.execute(
                "INSERT INTO cacheness_entries (ns, key, params, data_type, description, size, content_hash, \
                 version, created_at, accessed_at, access_count, expires_at, metadata, signature, blob, inline) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
                 ON CONFLICT (ns, key) DO UPDATE SET params = excluded.params, data_type = excluded.data_type, \
                 description = excluded.description, size = excluded.size, content_hash = excluded.content_hash, \
                 version = excluded.version, created_at = excluded.created_at, accessed_at = excluded.accessed_at, \
                 access_count = excluded.access_count, expires_at = excluded.expires_at, \
                 metadata = excluded.metadata, signature = excluded.signature, blob = excluded.blob, \
                 inline = excluded.inline",
                &all,
            )?;
        }
    }
    Ok(())
}

/// Evicts least recently accessed records of `ns` (never `protect`, never a row another
/// transaction holds) until the namespace's total size fits `limit`.
fn evict(
    s: &mut Session,
    ns: &str,
    limit: u64,
    protect: &[String],
    out: &mut Outcome,
) -> std::result::Result<(), Fail> {
    let limit = int(limit);
    loop {
        let total: i64 = s
            .query("SELECT total_size FROM cacheness_totals WHERE ns = $1", &[&ns])?
            .first()
            .map(|r| r.get(0))
            .unwrap_or(0);
        let mut excess = total - limit;
        if excess <= 0 {
            return Ok(());
        }
        let rows = s.query(
            "SELECT key, size FROM cacheness_entries WHERE ns = $1 AND NOT (key = ANY($2)) \
             ORDER BY accessed_at, key LIMIT 64 FOR UPDATE SKIP LOCKED",
            &[&ns, &protect],
        )?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut victims: Vec<String> = Vec::new();
        for row in &rows {
            if excess <= 0 {
                break;
            }
            excess -= row.get::<_, i64>(1);
            victims.push(row.get(0));
        }
        let gone =
            s.query("DELETE FROM cacheness_entries WHERE ns = $1 AND key = ANY($2) RETURNING blob", &[&ns, &victims])?;
        for row in gone {
            out.evicted += 1;
            out.dead_blobs.extend(row.get::<_, Option<String>>(0));
        }
    }
}

impl MetadataBackend for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn get(&self, ns: &str, key: &str) -> Result<Option<Record>> {
        self.run("get", |s| {
            let rows =
                s.query(&format!("SELECT {COLS} FROM cacheness_entries WHERE ns = $1 AND key = $2"), &[&ns, &key])?;
            Ok(rows.first().map(record).transpose()?)
        })
    }

    fn read(&self, ns: &str, keys: &[&str], cond: &Filter, access: Option<i64>) -> Result<Vec<Option<Loaded>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = Args::default();
        args.push(ns.to_string());
        args.push(keys.iter().map(|k| k.to_string()).collect::<Vec<String>>());
        let sql = match access {
            Some(now) => {
                let t = args.push(now);
                let w = where_pg(cond, &mut args);
                format!(
                    "UPDATE cacheness_entries SET accessed_at = {t}::bigint, access_count = access_count + 1 \
                     WHERE ns = $1 AND key = ANY($2) AND ({w}) RETURNING {COLS}, inline"
                )
            }
            None => {
                let w = where_pg(cond, &mut args);
                format!("SELECT {COLS}, inline FROM cacheness_entries WHERE ns = $1 AND key = ANY($2) AND ({w})")
            }
        };
        self.run("read", |s| {
            let rows = s.query(&sql, &args.refs())?;
            let mut found: HashMap<String, Loaded> = HashMap::with_capacity(rows.len());
            for row in &rows {
                let rec = record(row)?;
                let inline: Option<Vec<u8>> = row.try_get(14).map_err(|e| pg_error(&e))?;
                found.insert(rec.key.clone(), (rec, inline));
            }
            Ok(keys.iter().map(|k| found.get(*k).cloned()).collect())
        })
    }

    fn transact(&self, ns: &str, keys: &[&str], size_limit: Option<u64>, body: &mut TxBody<'_>) -> Result<Outcome> {
        let key_list: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let mut locks: Vec<i64> = keys.iter().map(|k| lock_id(ns, k)).collect();
        locks.sort_unstable();
        locks.dedup();
        self.run("transact", |s| {
            s.begin()?;
            if !locks.is_empty() {
                s.execute("SELECT cacheness_lock_keys($1)", &[&locks])?;
            }
            let rows = s.query(
                &format!(
                    "SELECT {COLS} FROM cacheness_entries WHERE ns = $1 AND key = ANY($2) ORDER BY key FOR UPDATE"
                ),
                &[&ns, &key_list],
            )?;
            let mut state: HashMap<String, Option<Record>> = HashMap::with_capacity(keys.len());
            for row in &rows {
                let r = record(row)?;
                state.insert(r.key.clone(), Some(r));
            }
            let current: Vec<Option<Record>> = keys.iter().map(|k| state.get(*k).cloned().flatten()).collect();
            let actions = body(&current)?;
            if actions.len() != keys.len() {
                return Err(Error::backend("transaction body returned the wrong number of actions").into());
            }
            for ((key, old), action) in keys.iter().zip(&current).zip(&actions) {
                if let Action::Put(rec, payload) = action {
                    if rec.key != *key {
                        return Err(Error::backend("transaction body put a record under another key").into());
                    }
                    if matches!(payload, Payload::Keep) && old.is_none() {
                        return Err(Error::backend("metadata-only write of a missing record").into());
                    }
                }
            }
            let mut out = Outcome::default();
            let assigned: HashSet<String> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::Put(r, Payload::Blob) => r.blob.clone(),
                    _ => None,
                })
                .collect();
            for (key, action) in keys.iter().zip(actions) {
                let old = state.get(*key).cloned().flatten();
                match action {
                    Action::Nothing => {}
                    Action::Delete => {
                        if let Some(old) = old {
                            s.execute("DELETE FROM cacheness_entries WHERE ns = $1 AND key = $2", &[&ns, key])?;
                            out.dead_blobs.extend(old.blob);
                            state.insert(key.to_string(), None);
                        }
                    }
                    Action::Put(mut rec, payload) => {
                        if matches!(payload, Payload::Keep) && old.is_none() {
                            return Err(Error::backend("metadata-only write of a missing record").into());
                        }
                        write_record(s, ns, &rec, &payload)?;
                        match payload {
                            Payload::Keep => rec.blob = old.as_ref().and_then(|o| o.blob.clone()),
                            Payload::Inline(_) => rec.blob = None,
                            Payload::Blob => {}
                        }
                        if let Some(old) = old {
                            if old.blob.is_some() && old.blob != rec.blob {
                                out.dead_blobs.extend(old.blob);
                            }
                        }
                        state.insert(key.to_string(), Some(rec));
                    }
                }
            }
            // A blob handed from one record to another (a move) is not dead.
            out.dead_blobs.retain(|b| !assigned.contains(b));
            if let Some(limit) = size_limit {
                evict(s, ns, limit, &key_list, &mut out)?;
            }
            s.commit()?;
            Ok(out)
        })
    }

    fn delete_where(&self, ns: &str, filter: &Filter) -> Result<(u64, Vec<String>)> {
        let mut args = Args::default();
        args.push(ns.to_string());
        let sql =
            format!("DELETE FROM cacheness_entries WHERE ns = $1 AND ({}) RETURNING blob", where_pg(filter, &mut args));
        self.run("delete_where", |s| {
            let rows = s.query(&sql, &args.refs())?;
            let blobs = rows.iter().filter_map(|r| r.get::<_, Option<String>>(0)).collect();
            Ok((rows.len() as u64, blobs))
        })
    }

    fn set_expiry_where(&self, ns: &str, filter: &Filter, expires_at: Option<i64>) -> Result<u64> {
        let mut args = Args::default();
        args.push(ns.to_string());
        args.push(expires_at);
        let sql =
            format!("UPDATE cacheness_entries SET expires_at = $2 WHERE ns = $1 AND ({})", where_pg(filter, &mut args));
        self.run("set_expiry_where", |s| Ok(s.execute(&sql, &args.refs())?))
    }

    fn update_where(
        &self,
        ns: &str,
        filter: &Filter,
        body: &mut dyn FnMut(&Record) -> Result<Option<Record>>,
    ) -> Result<u64> {
        let mut args = Args::default();
        args.push(ns.to_string());
        let sql = format!(
            "SELECT {COLS} FROM cacheness_entries WHERE ns = $1 AND ({}) ORDER BY key FOR UPDATE",
            where_pg(filter, &mut args)
        );
        self.run("update_where", |s| {
            s.begin()?;
            let rows = s.query(&sql, &args.refs())?;
            let mut changed: Vec<(String, Record)> = Vec::new();
            for row in &rows {
                let r = record(row)?;
                if let Some(new) = body(&r)? {
                    changed.push((r.key, new));
                }
            }
            if !changed.is_empty() {
                // One statement for every change.
                let c = Columns::of(&changed);
                s.execute(
                    "UPDATE cacheness_entries AS e SET params = u.params, data_type = u.data_type, \
                     description = u.description, size = u.size, content_hash = u.content_hash, \
                     version = u.version, created_at = u.created_at, accessed_at = u.accessed_at, \
                     access_count = u.access_count, expires_at = u.expires_at, metadata = u.metadata, \
                     signature = u.signature \
                     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], \
                                 $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], \
                                 $13::text[], $14::text[]) \
                          AS u(key, params, data_type, description, size, content_hash, version, created_at, \
                               accessed_at, access_count, expires_at, metadata, signature) \
                     WHERE e.ns = $1 AND e.key = u.key COLLATE \"C\"",
                    &[
                        &ns,
                        &c.key,
                        &c.params,
                        &c.data_type,
                        &c.description,
                        &c.size,
                        &c.content_hash,
                        &c.version,
                        &c.created_at,
                        &c.accessed_at,
                        &c.access_count,
                        &c.expires_at,
                        &c.metadata,
                        &c.signature,
                    ],
                )?;
            }
            s.commit()?;
            Ok(changed.len() as u64)
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
        let mut args = Args::default();
        args.push(ns.to_string());
        let mut sql =
            format!("SELECT {COLS} FROM cacheness_entries WHERE ns = $1 AND ({})", where_pg(filter, &mut args));
        let col = order.column();
        if let Some((v, k)) = after {
            if order == Order::Key {
                sql += &format!(" AND key > {}::text", args.push(k.clone()));
            } else {
                let v = match v {
                    Value::Int(i) => *i,
                    Value::Text(_) => return Err(Error::invalid("cursor does not fit the order")),
                };
                let a = args.push(v);
                let k = args.push(k.clone());
                sql += &format!(" AND ({col}, key) > ({a}::bigint, {k}::text)");
            }
        }
        if order == Order::Key {
            sql += " ORDER BY key";
        } else {
            sql += &format!(" ORDER BY {col}, key");
        }
        sql += &format!(" LIMIT {}::bigint", args.push(int(limit as u64)));
        self.run("list", |s| {
            let rows = s.query(&sql, &args.refs())?;
            Ok(rows.iter().map(record).collect::<Result<Vec<_>>>()?)
        })
    }

    fn scan(&self, ns: &str, after_key: Option<&str>, limit: usize) -> Result<Vec<Scanned>> {
        let after = after_key.unwrap_or("");
        let limit = int(limit as u64);
        self.run("scan", |s| {
            let rows = s.query(
                &format!("SELECT {COLS} FROM cacheness_entries WHERE ns = $1 AND key > $2 ORDER BY key LIMIT $3"),
                &[&ns, &after, &limit],
            )?;
            Ok(rows
                .iter()
                .map(|row| match row_to_record(row) {
                    Ok(r) => Scanned::Ok(r),
                    Err(reason) => Scanned::Invalid { key: row.try_get(0).unwrap_or_default(), reason },
                })
                .collect())
        })
    }

    fn totals(&self, ns: &str) -> Result<(u64, u64)> {
        self.run("totals", |s| {
            let rows = s.query("SELECT entries, total_size FROM cacheness_totals WHERE ns = $1", &[&ns])?;
            let (n, t): (i64, i64) = rows.first().map_or((0, 0), |r| (r.get(0), r.get(1)));
            Ok((n.max(0) as u64, t.max(0) as u64))
        })
    }

    fn referenced_blobs(&self, ids: &[String]) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.run("referenced_blobs", |s| {
            let rows = s.query("SELECT DISTINCT blob FROM cacheness_entries WHERE blob = ANY($1)", &[&ids])?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn remove_raw(&self, ns: &str, key: &str) -> Result<Option<String>> {
        self.run("remove_raw", |s| {
            let rows =
                s.query("DELETE FROM cacheness_entries WHERE ns = $1 AND key = $2 RETURNING blob", &[&ns, &key])?;
            Ok(rows.first().and_then(|r| r.get::<_, Option<String>>(0)))
        })
    }
}
