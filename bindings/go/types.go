package cacheness

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Config says where and how a Cache keeps its entries (the config JSON of
// cacheness_cache_open). The zero value of every field means the library's
// default; only Dir is needed for the default SQLite + files backends.
type Config struct {
	// Dir is the cache directory. Required unless Metadata and Blobs are both
	// "memory".
	Dir string
	// Metadata is the entry-record backend: "sqlite" (default), "memory",
	// "json" or "postgres" (with PostgresURL).
	Metadata    string
	PostgresURL string
	// Blobs is where the bytes go: "fs" (default) or "memory".
	Blobs string
	// DefaultTTL is the TTL of entries put without one. 0: never expire.
	DefaultTTL time.Duration
	// MaxSizeBytes limits the total size; past it the least recently used
	// entries are evicted. 0: no limit.
	MaxSizeBytes int64
	// InlineMaxBytes: values up to this size live inside the metadata
	// database. nil: the library's default.
	InlineMaxBytes *int64
	// Durability is "normal" (default) or "full" (fsync before returning).
	Durability string
	// SigningKey (at least 32 bytes) turns on HMAC-SHA256 signing of every
	// record. It is sent hex-encoded and never stored in the cache directory.
	SigningKey []byte
	// VerifyOnRead rehashes the data on every get.
	VerifyOnRead bool
	// Namespace separates caches sharing a directory or database ("default").
	Namespace string
	// Extra holds config members this package has no field for; they are
	// merged into the config JSON as given (and override the fields above).
	Extra map[string]any
}

func (c Config) toMap() map[string]any {
	m := StoreConfig{
		Dir: c.Dir, Metadata: c.Metadata, PostgresURL: c.PostgresURL, Blobs: c.Blobs,
		InlineMaxBytes: c.InlineMaxBytes, Durability: c.Durability, SigningKey: c.SigningKey,
		VerifyOnRead: c.VerifyOnRead, Namespace: c.Namespace,
	}.toMap()
	if c.DefaultTTL != 0 {
		m["default_ttl_seconds"] = seconds(c.DefaultTTL)
	}
	if c.MaxSizeBytes != 0 {
		m["max_size_bytes"] = c.MaxSizeBytes
	}
	for k, v := range c.Extra {
		m[k] = v
	}
	return m
}

// StoreConfig is the config of a Store: Config less TTL and eviction.
type StoreConfig struct {
	Dir            string
	Metadata       string
	PostgresURL    string
	Blobs          string
	InlineMaxBytes *int64
	Durability     string
	SigningKey     []byte
	VerifyOnRead   bool
	Namespace      string
	Extra          map[string]any
}

func (c StoreConfig) toMap() map[string]any {
	m := map[string]any{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("dir", c.Dir)
	set("metadata", c.Metadata)
	set("postgres_url", c.PostgresURL)
	set("blobs", c.Blobs)
	set("durability", c.Durability)
	set("namespace", c.Namespace)
	if c.InlineMaxBytes != nil {
		m["inline_max_bytes"] = *c.InlineMaxBytes
	}
	if c.SigningKey != nil {
		m["signing_key"] = hex.EncodeToString(c.SigningKey)
	}
	if c.VerifyOnRead {
		m["verify_on_read"] = true
	}
	for k, v := range c.Extra {
		m[k] = v
	}
	return m
}

// TTL says how long an entry lives. The zero value means "not given": the
// cache's default TTL applies (Config.DefaultTTL). Use NeverExpire or
// ExpireAfter for the other two cases.
type TTL struct {
	mode ttlMode
	d    time.Duration
}

type ttlMode uint8

const (
	ttlDefault ttlMode = iota
	ttlNever
	ttlAfter
)

// NeverExpire is the TTL of an entry that never expires (ttl_seconds: null).
var NeverExpire = TTL{mode: ttlNever}

// ExpireAfter is a TTL of d, which must be positive (else the library
// answers ErrInvalidArgument). It is sent as seconds (a fraction when d is
// not whole seconds); the library keeps milliseconds.
func ExpireAfter(d time.Duration) TTL { return TTL{mode: ttlAfter, d: d} }

// IsDefault reports whether t is the zero TTL (the cache's default).
func (t TTL) IsDefault() bool { return t.mode == ttlDefault }

func (t TTL) String() string {
	switch t.mode {
	case ttlNever:
		return "never"
	case ttlAfter:
		return t.d.String()
	}
	return "default"
}

// addTo writes ttl_seconds into an options map unless t is the default.
func (t TTL) addTo(m map[string]any) {
	switch t.mode {
	case ttlNever:
		m["ttl_seconds"] = nil
	case ttlAfter:
		m["ttl_seconds"] = seconds(t.d)
	}
}

// seconds is d in seconds: an integer when d is whole seconds.
func seconds(d time.Duration) any {
	if d%time.Second == 0 {
		return int64(d / time.Second)
	}
	return d.Seconds()
}

// PutOptions are the options of Put and of PutItem. A nil *PutOptions is all
// defaults.
type PutOptions struct {
	TTL         TTL    // zero: the cache's default TTL
	DataType    string // "": the library's default ("bytes")
	Description string
	Metadata    map[string]any // custom metadata object; nil: none
}

func (o *PutOptions) toMap() map[string]any {
	if o == nil {
		return nil
	}
	m := map[string]any{}
	o.TTL.addTo(m)
	if o.DataType != "" {
		m["data_type"] = o.DataType
	}
	if o.Description != "" {
		m["description"] = o.Description
	}
	if o.Metadata != nil {
		m["metadata"] = o.Metadata
	}
	return m
}

// UpdateDataOptions are the options of UpdateData.
type UpdateDataOptions struct {
	// ExpectedVersion, when not 0, makes the update conditional: if the
	// entry's version differs the call fails with ErrConflict and nothing
	// changes. (Versions start at 1, so 0 never names one.)
	ExpectedVersion int64
	DataType        string // "": keep the current data type
	TTL             TTL    // zero: the cache's default TTL (the TTL restarts)
}

func (o *UpdateDataOptions) toMap() map[string]any {
	if o == nil {
		return nil
	}
	m := map[string]any{}
	if o.ExpectedVersion != 0 {
		m["expected_version"] = o.ExpectedVersion
	}
	if o.DataType != "" {
		m["data_type"] = o.DataType
	}
	o.TTL.addTo(m)
	return m
}

// CopyOptions are the options of Copy and Move.
type CopyOptions struct {
	// Overwrite replaces an existing destination; without it an existing
	// destination is ErrExists and nothing changes.
	Overwrite bool
	// Metadata is a JSON merge patch (RFC 7396) applied to the custom metadata
	// of the copy (a nil value deletes a member).
	Metadata map[string]any
}

func (o *CopyOptions) toMap() map[string]any {
	if o == nil {
		return nil
	}
	m := map[string]any{}
	if o.Overwrite {
		m["overwrite"] = true
	}
	if o.Metadata != nil {
		m["metadata"] = o.Metadata
	}
	return m
}

// ListOptions are the options of List (and of Store.List).
type ListOptions struct {
	Limit  int    // 0: the library's default (1000)
	Cursor string // "": the first page; else ListPage.NextCursor of the previous page
	Order  string // "created_at" (default), "accessed_at" or "key"
}

func (o *ListOptions) toMap() map[string]any {
	if o == nil {
		return nil
	}
	m := map[string]any{}
	if o.Limit != 0 {
		m["limit"] = o.Limit
	}
	if o.Cursor != "" {
		m["cursor"] = o.Cursor
	}
	if o.Order != "" {
		m["order"] = o.Order
	}
	return m
}

// VerifyOptions are the options of Verify.
type VerifyOptions struct {
	Deep bool // rehash every blob (default: check presence and size)
}

// RepairOptions are the options of Repair.
type RepairOptions struct {
	DryRun  bool // report what would be done, change nothing
	Shallow bool // check presence and size only (default: deep, as Verify with Deep)
}

// ExportOptions are the options of Export.
type ExportOptions struct {
	Uncompressed bool           // a plain tar (default: tar.gz)
	Filter       map[string]any // only entries matching it; nil: all
}

// ImportOptions are the options of Import and ImportJSON.
type ImportOptions struct {
	Overwrite bool // replace existing entries (default: keep them)
}

// Metadata describes one cache entry (get_metadata, list, the predicate of
// DeleteMatching). Numbers inside Params and Metadata are float64, as
// encoding/json decodes them into interface values.
type Metadata struct {
	CacheKey    string         // 64 lowercase hex
	Params      map[string]any // the params the key was made from
	DataType    string
	Description string
	Size        int64
	ContentHash string // "sha256:<64 hex>"
	// Version starts at 1 and grows by 1 on every change of data or custom
	// metadata: the token for UpdateDataOptions.ExpectedVersion.
	Version     int64
	CreatedAt   time.Time // when the current data was written
	AccessedAt  time.Time
	AccessCount int64
	ExpiresAt   time.Time      // zero: never expires
	Metadata    map[string]any // custom metadata; nil when the entry has none
}

// Expires reports whether the entry has an expiry time.
func (m *Metadata) Expires() bool { return !m.ExpiresAt.IsZero() }

type wireMetadata struct {
	CacheKey    string         `json:"cache_key"`
	Key         string         `json:"key"`
	Params      map[string]any `json:"params"`
	DataType    string         `json:"data_type"`
	Description string         `json:"description"`
	Size        int64          `json:"size"`
	ContentHash string         `json:"content_hash"`
	Version     int64          `json:"version"`
	CreatedAt   *string        `json:"created_at"`
	AccessedAt  *string        `json:"accessed_at"`
	AccessCount int64          `json:"access_count"`
	ExpiresAt   *string        `json:"expires_at"`
	Metadata    map[string]any `json:"metadata"`
}

func (w *wireMetadata) times(created, accessed, expires *time.Time) error {
	for _, t := range []struct {
		name string
		s    *string
		out  *time.Time
	}{{"created_at", w.CreatedAt, created}, {"accessed_at", w.AccessedAt, accessed}, {"expires_at", w.ExpiresAt, expires}} {
		if t.s == nil || t.out == nil {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, *t.s)
		if err != nil {
			return fmt.Errorf("cacheness: %s %q is not an RFC 3339 time: %w", t.name, *t.s, err)
		}
		*t.out = v
	}
	return nil
}

// UnmarshalJSON reads the metadata JSON of the C ABI.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	var w wireMetadata
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Metadata{
		CacheKey: w.CacheKey, Params: w.Params, DataType: w.DataType,
		Description: w.Description, Size: w.Size, ContentHash: w.ContentHash,
		Version: w.Version, AccessCount: w.AccessCount, Metadata: w.Metadata,
	}
	return w.times(&m.CreatedAt, &m.AccessedAt, &m.ExpiresAt)
}

// StoreMetadata describes one Store entry. Store entries have a caller-chosen
// Key instead of a cache key and params, and never expire.
type StoreMetadata struct {
	Key         string
	DataType    string
	Description string
	Size        int64
	ContentHash string
	Version     int64
	CreatedAt   time.Time
	AccessedAt  time.Time
	AccessCount int64
	Metadata    map[string]any
}

// UnmarshalJSON reads the store metadata JSON of the C ABI.
func (m *StoreMetadata) UnmarshalJSON(b []byte) error {
	var w wireMetadata
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = StoreMetadata{
		Key: w.Key, DataType: w.DataType, Description: w.Description, Size: w.Size,
		ContentHash: w.ContentHash, Version: w.Version, AccessCount: w.AccessCount,
		Metadata: w.Metadata,
	}
	return w.times(&m.CreatedAt, &m.AccessedAt, nil)
}

// ListPage is one page of List.
type ListPage struct {
	Entries []Metadata `json:"entries"`
	// NextCursor is "" on the last page; else pass it as ListOptions.Cursor.
	NextCursor string `json:"next_cursor"`
}

// StoreListPage is one page of Store.List.
type StoreListPage struct {
	Entries    []StoreMetadata `json:"entries"`
	NextCursor string          `json:"next_cursor"`
}

// Stats are the numbers of cacheness_cache_stats. Hits, Misses, Evictions
// and ExpiredRemoved count since this handle was opened.
type Stats struct {
	Entries         uint64 `json:"entries"`
	TotalSize       uint64 `json:"total_size"`
	Hits            uint64 `json:"hits"`
	Misses          uint64 `json:"misses"`
	Evictions       uint64 `json:"evictions"`
	ExpiredRemoved  uint64 `json:"expired_removed"`
	MetadataBackend string `json:"metadata_backend"`
	BlobBackend     string `json:"blob_backend"`
	Namespace       string `json:"namespace"`
	// Raw is the whole stats JSON, members this struct has no field for included.
	Raw json.RawMessage `json:"-"`
}

// Issue is one problem found by Verify or Repair. CacheKey (cache entries),
// Key (store entries) or Path (files), or several of them, are set.
type Issue struct {
	CacheKey string `json:"cache_key,omitempty"`
	Key      string `json:"key,omitempty"`
	Path     string `json:"path,omitempty"`
	// Issue is "missing_file", "size_mismatch", "hash_mismatch",
	// "corrupted_signature", "orphaned_file", "expired_entry",
	// "invalid_record" (or, from Repair, "temporary_file").
	Issue string `json:"issue"`
	// Action is what Repair did about it ("removed_entry", "removed_file",
	// "would_remove_entry", ...); empty in a Verify report.
	Action string `json:"action,omitempty"`
}

// VerifyReport is the report of Verify.
type VerifyReport struct {
	OK      bool    `json:"ok"`
	Checked uint64  `json:"checked"`
	Issues  []Issue `json:"issues"`
	// Raw is the whole report JSON.
	Raw json.RawMessage `json:"-"`
}

// RepairReport is the report of Repair.
type RepairReport struct {
	DryRun         bool    `json:"dry_run"`
	OK             bool    `json:"ok"` // true: nothing was wrong
	Checked        uint64  `json:"checked"`
	Issues         []Issue `json:"issues"`
	RemovedEntries uint64  `json:"removed_entries"`
	RemovedFiles   uint64  `json:"removed_files"`
	// Raw is the whole report JSON.
	Raw json.RawMessage `json:"-"`
}

// Orphan is a data file no entry refers to (or a leftover temporary file).
type Orphan struct {
	Path      string `json:"path"`
	Size      uint64 `json:"size"`
	Temporary bool   `json:"temporary"`
}

// OrphanReport is the report of FindOrphans.
type OrphanReport struct {
	Count     uint64   `json:"count"`
	TotalSize uint64   `json:"total_size"`
	Orphans   []Orphan `json:"orphans"`
	// Raw is the whole report JSON.
	Raw json.RawMessage `json:"-"`
}
