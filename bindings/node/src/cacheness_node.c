/*
 * Node-API addon for cacheness (NAPI_VERSION 8: one binary for every Node from 18 on).
 *
 * The addon is deliberately small and generic: every C call of the cacheness ABI is an
 * "operation" (op_desc below) with up to three string arguments, optional bytes, an optional
 * boolean flag and one result shape. The same code path serves the synchronous form (the C
 * call runs on the JS thread) and the Promise form (the C call runs on the libuv thread pool
 * through napi_create_async_work). index.js turns JS values into the JSON strings and bytes
 * expected here and parses the JSON that comes back. The hottest sync calls (get, getMetadata,
 * exists) also have a dedicated fast path ("Sync fast paths" below).
 *
 * Lifetime rules:
 * - A cache or store is a `handle_t` behind a napi external. `pending` counts async work in
 *   flight (and a running deleteMatching, whose JS predicate may call close()). close() marks the handle closed; the real
 *   cacheness_*_close happens when nothing is pending, so closing while Promises are still
 *   running is safe. The struct is freed once the C handle is closed and the JS external has
 *   been garbage collected.
 * - Async work copies its string and byte inputs, so JS may reuse or free them at once.
 * - All of handle_t's fields are touched only on the JS thread, except `ptr`, which worker
 *   threads only read while `pending` > 0 keeps it alive.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacheness.h"

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */

#define HANDLE_MAGIC 0x63616368u /* "cach" */

/* Results at least this large are handed to JS without a copy (external Buffer). */
#define EXTERNAL_BUFFER_MIN ((size_t)64 * 1024)

/* Evaluate a napi call; on failure throw (unless an exception is already pending) and return
 * NULL from the calling napi callback. */
#define NAPI_CALL(env, call)                                                                   \
  do {                                                                                         \
    napi_status status_ = (call);                                                              \
    if (status_ != napi_ok) {                                                                  \
      throw_napi_failure((env), status_, #call);                                               \
      return NULL;                                                                             \
    }                                                                                          \
  } while (0)

static void throw_napi_failure(napi_env env, napi_status status, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char buf[512];
  snprintf(buf, sizeof buf, "cacheness addon: %s failed (napi status %d%s%s)", what, (int)status,
           info && info->error_message ? ": " : "", info && info->error_message ? info->error_message : "");
  napi_throw_error(env, "ERR_CACHENESS_ADDON", buf);
}

static const char *const CODE_NAMES[] = {
    "OK",   "NOT_FOUND", "INVALID_ARGUMENT", "EXISTS", "CONFLICT", "CORRUPT",
    "IO",   "BACKEND",   "BUSY",             "TOO_LARGE", "PANIC",
};

static const char *code_name(int code) {
  if (code >= 0 && (size_t)code < sizeof CODE_NAMES / sizeof CODE_NAMES[0]) return CODE_NAMES[code];
  return "UNKNOWN";
}

/* Per-environment state (one per main thread / worker thread): the CachenessError class and
 * the queue of async calls waiting for a slot (see js_call_async). */
struct call;
typedef struct {
  napi_ref error_class;
  uint32_t inflight;     /* async calls submitted to the libuv pool and not completed */
  uint32_t max_inflight; /* at most this many submitted at once */
  struct call *queue_head, *queue_tail; /* created, not yet submitted, FIFO */
  cacheness_bytes deferred_free; /* see fast_call: freed at the next fast get or at teardown */
} addon_state;

static void addon_state_free(napi_env env, void *data, void *hint) {
  (void)hint;
  addon_state *st = data;
  if (st->error_class) napi_delete_reference(env, st->error_class);
  if (st->deferred_free.data) cacheness_bytes_free(st->deferred_free);
  free(st);
}

/* Build a CachenessError(message, code). Falls back to a plain Error with .code if the class
 * has not been registered. Returns NULL only if even that fails. */
static napi_value make_error(napi_env env, const char *code, const char *message) {
  napi_value msg = NULL, code_v = NULL, err = NULL, ctor = NULL;
  addon_state *st = NULL;
  if (napi_create_string_utf8(env, message ? message : "", NAPI_AUTO_LENGTH, &msg) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v) != napi_ok) return NULL;
  if (napi_get_instance_data(env, (void **)&st) == napi_ok && st && st->error_class &&
      napi_get_reference_value(env, st->error_class, &ctor) == napi_ok && ctor) {
    napi_value argv[2] = {msg, code_v};
    if (napi_new_instance(env, ctor, 2, argv, &err) == napi_ok) return err;
    /* Constructor threw: clear that exception and fall back to a plain Error. */
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  if (napi_create_error(env, NULL, msg, &err) != napi_ok) return NULL;
  napi_set_named_property(env, err, "code", code_v);
  return err;
}

static void throw_error(napi_env env, const char *code, const char *message) {
  napi_value err = make_error(env, code, message);
  if (err) napi_throw(env, err);
  else napi_throw_error(env, code, message);
}

/* Consume a cacheness_error: build the JS error value and free the C one. */
static napi_value error_from_c(napi_env env, cacheness_error *e) {
  napi_value v = make_error(env, code_name((int)cacheness_error_code(e)), cacheness_error_message(e));
  cacheness_error_free(e);
  return v;
}

static napi_value js_undefined(napi_env env) {
  napi_value v = NULL;
  napi_get_undefined(env, &v);
  return v;
}

static bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return true;
  return t == napi_undefined || t == napi_null;
}

/* Copy a JS string argument into a malloc'd NUL-terminated UTF-8 string. undefined/null give
 * *out = NULL (the C functions then apply their default or report INVALID_ARGUMENT).
 * Returns false with a JS exception pending on error. */
static bool get_string(napi_env env, napi_value v, const char *what, char **out) {
  *out = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_undefined || t == napi_null) return true;
  if (t != napi_string) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s must be a string", what);
    throw_error(env, "INVALID_ARGUMENT", buf);
    return false;
  }
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return false;
  char *s = malloc(len + 1);
  if (!s) {
    throw_error(env, "TOO_LARGE", "out of memory copying a string argument");
    return false;
  }
  size_t got = 0;
  if (napi_get_value_string_utf8(env, v, s, len + 1, &got) != napi_ok) {
    free(s);
    return false;
  }
  if (strlen(s) != got) {
    free(s);
    char buf[128];
    snprintf(buf, sizeof buf, "%s must not contain NUL characters", what);
    throw_error(env, "INVALID_ARGUMENT", buf);
    return false;
  }
  *out = s;
  return true;
}

/* A non-NULL pointer for empty inputs: C treats a NULL data pointer as a missing argument. */
static const uint8_t EMPTY_BYTES[1] = {0};

/* Borrow the bytes of a TypedArray / Buffer / DataView / ArrayBuffer. */
static bool get_bytes(napi_env env, napi_value v, const uint8_t **data, size_t *len) {
  bool is = false;
  void *p = NULL;
  size_t n = 0;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count = 0;
    if (napi_get_typedarray_info(env, v, &type, &count, &p, NULL, NULL) != napi_ok) return false;
    size_t width = 1;
    switch (type) {
      case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: width = 1; break;
      case napi_int16_array: case napi_uint16_array: width = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: width = 4; break;
      default: width = 8; break; /* float64, bigint64, biguint64 */
    }
    n = count * width;
  } else if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    if (napi_get_dataview_info(env, v, &n, &p, NULL, NULL) != napi_ok) return false;
  } else if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    if (napi_get_arraybuffer_info(env, v, &p, &n) != napi_ok) return false;
  } else {
    throw_error(env, "INVALID_ARGUMENT", "data must be a Buffer, TypedArray, DataView or ArrayBuffer");
    return false;
  }
  *data = (n == 0 || p == NULL) ? EMPTY_BYTES : (const uint8_t *)p;
  *len = n;
  return true;
}

static void free_c_bytes(napi_env env, void *data, void *hint) {
  (void)env;
  cacheness_bytes b;
  b.data = data;
  b.len = (size_t)(uintptr_t)hint;
  cacheness_bytes_free(b);
}

/* Turn a cacheness_bytes into a Buffer, taking ownership of it (it is freed or handed to the
 * Buffer's finalizer). */
static napi_value bytes_to_buffer(napi_env env, cacheness_bytes *b) {
  napi_value buf = NULL;
  napi_status st;
  if (b->data == NULL || b->len == 0) {
    if (b->data) cacheness_bytes_free(*b);
    b->data = NULL;
    b->len = 0;
    void *ignored;
    st = napi_create_buffer(env, 0, &ignored, &buf);
    return st == napi_ok ? buf : NULL;
  }
  if (b->len >= EXTERNAL_BUFFER_MIN) {
    st = napi_create_external_buffer(env, b->len, b->data, free_c_bytes, (void *)(uintptr_t)b->len, &buf);
    if (st == napi_ok) {
      b->data = NULL;
      b->len = 0;
      return buf;
    }
    /* e.g. napi_no_external_buffers_allowed (some embedders): fall back to a copy. */
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
  }
  st = napi_create_buffer_copy(env, b->len, b->data, NULL, &buf);
  cacheness_bytes_free(*b);
  b->data = NULL;
  b->len = 0;
  return st == napi_ok ? buf : NULL;
}

/* Copy a C string (may be NULL) into a JS string (or null). */
static napi_value c_string_to_js(napi_env env, const char *s) {
  napi_value v = NULL;
  if (!s) {
    napi_get_null(env, &v);
    return v;
  }
  if (napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v) != napi_ok) return NULL;
  return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Handles                                                                                     */

typedef enum { KIND_CACHE = 1, KIND_STORE = 2 } handle_kind;

typedef struct {
  uint32_t magic;
  handle_kind kind;
  void *ptr;          /* cacheness_cache * or cacheness_store *; NULL once really closed */
  uint32_t pending;   /* async work in flight + running deleteMatching calls */
  bool closed;        /* close() was called (or the JS object was collected) */
  bool js_alive;      /* the JS external still exists */
} handle_t;

static void handle_release(handle_t *h) {
  if (h->closed && h->pending == 0 && h->ptr) {
    if (h->kind == KIND_CACHE) cacheness_cache_close((cacheness_cache *)h->ptr);
    else cacheness_store_close((cacheness_store *)h->ptr);
    h->ptr = NULL;
  }
  if (!h->ptr && !h->js_alive && h->pending == 0) {
    h->magic = 0;
    free(h);
  }
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  handle_t *h = data;
  h->js_alive = false;
  h->closed = true;
  handle_release(h);
}

/* Unwrap a handle argument. Throws and returns NULL if it is not one of ours, is of the other
 * kind, or is closed. */
static handle_t *get_handle(napi_env env, napi_value v, int want_kind) {
  void *p = NULL;
  /* napi_get_value_external fails (napi_invalid_arg) on anything that is not an external. */
  if (napi_get_value_external(env, v, &p) != napi_ok || !p || ((handle_t *)p)->magic != HANDLE_MAGIC) {
    throw_error(env, "INVALID_ARGUMENT", "not a cacheness handle");
    return NULL;
  }
  handle_t *h = p;
  if (want_kind && (int)h->kind != want_kind) {
    throw_error(env, "INVALID_ARGUMENT", h->kind == KIND_CACHE ? "this is a cache, not a store" : "this is a store, not a cache");
    return NULL;
  }
  if (h->closed || !h->ptr) {
    throw_error(env, "INVALID_ARGUMENT", h->kind == KIND_CACHE ? "the cache is closed" : "the store is closed");
    return NULL;
  }
  return h;
}

static napi_value open_handle(napi_env env, napi_callback_info info, handle_kind kind) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    throw_error(env, "INVALID_ARGUMENT", "config is required");
    return NULL;
  }
  char *cfg = NULL;
  if (!get_string(env, argv[0], "config", &cfg)) return NULL;
  void *ptr = NULL;
  cacheness_error *e = kind == KIND_CACHE ? cacheness_cache_open(cfg, (cacheness_cache **)&ptr)
                                          : cacheness_store_open(cfg, (cacheness_store **)&ptr);
  free(cfg);
  if (e) {
    napi_value err = error_from_c(env, e);
    if (err) napi_throw(env, err);
    return NULL;
  }
  handle_t *h = calloc(1, sizeof *h);
  if (!h) {
    if (kind == KIND_CACHE) cacheness_cache_close(ptr);
    else cacheness_store_close(ptr);
    throw_error(env, "TOO_LARGE", "out of memory");
    return NULL;
  }
  h->magic = HANDLE_MAGIC;
  h->kind = kind;
  h->ptr = ptr;
  h->js_alive = true;
  napi_value ext;
  napi_status st = napi_create_external(env, h, handle_finalize, NULL, &ext);
  if (st != napi_ok) {
    h->js_alive = false;
    h->closed = true;
    handle_release(h);
    throw_napi_failure(env, st, "napi_create_external");
    return NULL;
  }
  return ext;
}

static napi_value js_cache_open(napi_env env, napi_callback_info info) { return open_handle(env, info, KIND_CACHE); }
static napi_value js_store_open(napi_env env, napi_callback_info info) { return open_handle(env, info, KIND_STORE); }

/* close(handle): idempotent; the C close is deferred while async work is pending. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t;
  void *p = NULL;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, argv[0], &p) != napi_ok || !p || ((handle_t *)p)->magic != HANDLE_MAGIC) {
    throw_error(env, "INVALID_ARGUMENT", "not a cacheness handle");
    return NULL;
  }
  handle_t *h = p;
  h->closed = true;
  handle_release(h);
  return js_undefined(env);
}

/* isOpen(handle) -> boolean; pending(handle) -> number of calls in flight (for tests). */
static napi_value js_handle_state(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t;
  void *p = NULL;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, argv[0], &p) != napi_ok || !p || ((handle_t *)p)->magic != HANDLE_MAGIC) {
    throw_error(env, "INVALID_ARGUMENT", "not a cacheness handle");
    return NULL;
  }
  handle_t *h = p;
  napi_value obj, v;
  NAPI_CALL(env, napi_create_object(env, &obj));
  NAPI_CALL(env, napi_get_boolean(env, !h->closed, &v));
  NAPI_CALL(env, napi_set_named_property(env, obj, "open", v));
  NAPI_CALL(env, napi_get_boolean(env, h->ptr != NULL, &v));
  NAPI_CALL(env, napi_set_named_property(env, obj, "nativeOpen", v));
  NAPI_CALL(env, napi_create_uint32(env, h->pending, &v));
  NAPI_CALL(env, napi_set_named_property(env, obj, "pending", v));
  return obj;
}

/* ------------------------------------------------------------------------------------------ */
/* Operations                                                                                  */

typedef enum {
  R_UNDEFINED,      /* nothing */
  R_BOOL,           /* out.found */
  R_COUNT,          /* out.count as a number */
  R_STRING,         /* out.str (JSON or key) */
  R_STRING_FOUND,   /* out.str if out.found, else undefined */
  R_BYTES_FOUND,    /* Buffer if out.found, else undefined */
  R_BYTES_META,     /* [Buffer, metadata string] if out.found, else undefined */
  R_BATCH,          /* array of Buffer | undefined */
} result_kind;

typedef enum {
  OP_PUT, OP_GET, OP_GET_WITH_METADATA, OP_GET_METADATA, OP_EXISTS, OP_DELETE, OP_TOUCH,
  OP_UPDATE_DATA, OP_UPDATE_METADATA, OP_COPY, OP_MOVE, OP_LIST, OP_DELETE_WHERE,
  OP_TOUCH_WHERE, OP_UPDATE_METADATA_WHERE, OP_GET_BATCH, OP_PUT_BATCH, OP_DELETE_BATCH,
  OP_CLEANUP_EXPIRED, OP_CLEAR, OP_STATS, OP_VERIFY, OP_REPAIR, OP_FIND_ORPHANS,
  OP_CLEANUP_ORPHANS, OP_EXPORT, OP_IMPORT, OP_EXPORT_JSON, OP_IMPORT_JSON,
  OP_STORE_PUT, OP_STORE_GET, OP_STORE_GET_METADATA, OP_STORE_UPDATE_METADATA,
  OP_STORE_UPDATE_DATA, OP_STORE_EXISTS, OP_STORE_DELETE, OP_STORE_TOUCH, OP_STORE_LIST,
  OP_STORE_DELETE_BY_PREFIX, OP_STORE_COPY, OP_STORE_MOVE, OP_STORE_CLEAR,
  OP_COUNT_
} op_id;

typedef struct {
  op_id id;
  const char *name;   /* exported in the ops table and used as the async resource name */
  handle_kind kind;
  uint8_t nstrings;   /* string arguments s[0..nstrings) */
  bool has_data;      /* then a bytes argument */
  bool has_flag;      /* then a boolean argument */
  result_kind result;
} op_desc;

static const op_desc OPS[OP_COUNT_] = {
    {OP_PUT, "put", KIND_CACHE, 2, true, false, R_STRING},
    {OP_GET, "get", KIND_CACHE, 1, false, false, R_BYTES_FOUND},
    {OP_GET_WITH_METADATA, "getWithMetadata", KIND_CACHE, 1, false, false, R_BYTES_META},
    {OP_GET_METADATA, "getMetadata", KIND_CACHE, 1, false, false, R_STRING_FOUND},
    {OP_EXISTS, "exists", KIND_CACHE, 1, false, false, R_BOOL},
    {OP_DELETE, "delete", KIND_CACHE, 1, false, false, R_BOOL},
    {OP_TOUCH, "touch", KIND_CACHE, 2, false, false, R_BOOL},
    {OP_UPDATE_DATA, "updateData", KIND_CACHE, 2, true, false, R_BOOL},
    {OP_UPDATE_METADATA, "updateMetadata", KIND_CACHE, 2, false, false, R_BOOL},
    {OP_COPY, "copy", KIND_CACHE, 3, false, false, R_BOOL},
    {OP_MOVE, "move", KIND_CACHE, 3, false, false, R_BOOL},
    {OP_LIST, "list", KIND_CACHE, 2, false, false, R_STRING},
    {OP_DELETE_WHERE, "deleteWhere", KIND_CACHE, 1, false, false, R_COUNT},
    {OP_TOUCH_WHERE, "touchWhere", KIND_CACHE, 2, false, false, R_COUNT},
    {OP_UPDATE_METADATA_WHERE, "updateMetadataWhere", KIND_CACHE, 2, false, false, R_COUNT},
    {OP_GET_BATCH, "getBatch", KIND_CACHE, 1, false, false, R_BATCH},
    {OP_PUT_BATCH, "putBatch", KIND_CACHE, 0, false, false, R_UNDEFINED},
    {OP_DELETE_BATCH, "deleteBatch", KIND_CACHE, 1, false, false, R_COUNT},
    {OP_CLEANUP_EXPIRED, "cleanupExpired", KIND_CACHE, 0, false, false, R_COUNT},
    {OP_CLEAR, "clear", KIND_CACHE, 0, false, false, R_COUNT},
    {OP_STATS, "stats", KIND_CACHE, 0, false, false, R_STRING},
    {OP_VERIFY, "verify", KIND_CACHE, 1, false, false, R_STRING},
    {OP_REPAIR, "repair", KIND_CACHE, 1, false, false, R_STRING},
    {OP_FIND_ORPHANS, "findOrphans", KIND_CACHE, 0, false, false, R_STRING},
    {OP_CLEANUP_ORPHANS, "cleanupOrphans", KIND_CACHE, 0, false, false, R_COUNT},
    {OP_EXPORT, "export", KIND_CACHE, 2, false, false, R_COUNT},
    {OP_IMPORT, "import", KIND_CACHE, 2, false, false, R_COUNT},
    {OP_EXPORT_JSON, "exportJson", KIND_CACHE, 1, false, false, R_STRING},
    {OP_IMPORT_JSON, "importJson", KIND_CACHE, 2, false, false, R_COUNT},
    {OP_STORE_PUT, "storePut", KIND_STORE, 2, true, false, R_UNDEFINED},
    {OP_STORE_GET, "storeGet", KIND_STORE, 1, false, false, R_BYTES_FOUND},
    {OP_STORE_GET_METADATA, "storeGetMetadata", KIND_STORE, 1, false, false, R_STRING_FOUND},
    {OP_STORE_UPDATE_METADATA, "storeUpdateMetadata", KIND_STORE, 2, false, false, R_BOOL},
    {OP_STORE_UPDATE_DATA, "storeUpdateData", KIND_STORE, 1, true, false, R_BOOL},
    {OP_STORE_EXISTS, "storeExists", KIND_STORE, 1, false, false, R_BOOL},
    {OP_STORE_DELETE, "storeDelete", KIND_STORE, 1, false, false, R_BOOL},
    {OP_STORE_TOUCH, "storeTouch", KIND_STORE, 1, false, false, R_BOOL},
    {OP_STORE_LIST, "storeList", KIND_STORE, 2, false, false, R_STRING},
    {OP_STORE_DELETE_BY_PREFIX, "storeDeleteByPrefix", KIND_STORE, 1, false, false, R_COUNT},
    {OP_STORE_COPY, "storeCopy", KIND_STORE, 2, false, true, R_BOOL},
    {OP_STORE_MOVE, "storeMove", KIND_STORE, 2, false, true, R_BOOL},
    {OP_STORE_CLEAR, "storeClear", KIND_STORE, 0, false, false, R_COUNT},
};

/* One call: its inputs (owned copies for async work, borrowed for sync calls), its outputs,
 * and for async work the napi bookkeeping. */
typedef struct call {
  const op_desc *op;
  handle_t *h;
  void *ptr; /* h->ptr captured on the JS thread */
  char *s[3];
  const uint8_t *data;
  size_t len;
  uint8_t *data_copy; /* owned copy of data (async), else NULL */
  bool flag;
  /* put_batch */
  cacheness_put_item *items;
  size_t nitems;
  char **item_strings; /* 2 per item, owned */
  uint8_t **item_data; /* owned copies (async) or NULL */
  /* outputs */
  cacheness_error *err;
  bool found;
  uint64_t count;
  char *str;
  char *str2;
  cacheness_bytes bytes;
  cacheness_batch *batch;
  /* async */
  napi_async_work work;
  napi_deferred deferred;
  struct call *next; /* in addon_state's queue */
} call_t;

static void call_free(call_t *c) {
  if (!c) return;
  for (int i = 0; i < 3; i++) free(c->s[i]);
  free(c->data_copy);
  if (c->item_strings) {
    for (size_t i = 0; i < 2 * c->nitems; i++) free(c->item_strings[i]);
    free(c->item_strings);
  }
  if (c->item_data) {
    for (size_t i = 0; i < c->nitems; i++) free(c->item_data[i]);
    free(c->item_data);
  }
  free(c->items);
  if (c->err) cacheness_error_free(c->err);
  if (c->str) cacheness_string_free(c->str);
  if (c->str2) cacheness_string_free(c->str2);
  if (c->bytes.data) cacheness_bytes_free(c->bytes);
  if (c->batch) cacheness_batch_free(c->batch);
  free(c);
}

/* Parse put_batch items: an array of [paramsJson, bytes, optionsJson | null]. */
static bool parse_items(napi_env env, napi_value arr, call_t *c, bool copy) {
  bool is_array = false;
  if (napi_is_array(env, arr, &is_array) != napi_ok || !is_array) {
    throw_error(env, "INVALID_ARGUMENT", "items must be an array");
    return false;
  }
  uint32_t n = 0;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return false;
  c->nitems = n;
  c->items = calloc(n ? n : 1, sizeof *c->items);
  c->item_strings = calloc(2 * (size_t)(n ? n : 1), sizeof(char *));
  if (copy) c->item_data = calloc(n ? n : 1, sizeof(uint8_t *));
  if (!c->items || !c->item_strings || (copy && !c->item_data)) {
    throw_error(env, "TOO_LARGE", "out of memory");
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item, params, data, opts;
    if (napi_get_element(env, arr, i, &item) != napi_ok) return false;
    bool ok = napi_is_array(env, item, &is_array) == napi_ok && is_array;
    if (!ok || napi_get_element(env, item, 0, &params) != napi_ok || napi_get_element(env, item, 1, &data) != napi_ok ||
        napi_get_element(env, item, 2, &opts) != napi_ok) {
      throw_error(env, "INVALID_ARGUMENT", "each item must be [params, data, options]");
      return false;
    }
    if (!get_string(env, params, "item params", &c->item_strings[2 * i])) return false;
    if (!get_string(env, opts, "item options", &c->item_strings[2 * i + 1])) return false;
    const uint8_t *p;
    size_t len;
    if (!get_bytes(env, data, &p, &len)) return false;
    if (copy && len > 0) {
      c->item_data[i] = malloc(len);
      if (!c->item_data[i]) {
        throw_error(env, "TOO_LARGE", "out of memory copying item data");
        return false;
      }
      memcpy(c->item_data[i], p, len);
      p = c->item_data[i];
    }
    c->items[i].params_json = c->item_strings[2 * i];
    c->items[i].options_json = c->item_strings[2 * i + 1];
    c->items[i].data = p;
    c->items[i].len = len;
  }
  return true;
}

/* Build a call from JS arguments (handle, opIndex, ...args). `copy`: own every input. */
static call_t *call_parse(napi_env env, size_t argc, napi_value *argv, bool copy) {
  if (argc < 2) {
    throw_error(env, "INVALID_ARGUMENT", "internal: handle and operation required");
    return NULL;
  }
  uint32_t opi = 0;
  if (napi_get_value_uint32(env, argv[1], &opi) != napi_ok || opi >= OP_COUNT_) {
    throw_error(env, "INVALID_ARGUMENT", "internal: bad operation");
    return NULL;
  }
  const op_desc *op = &OPS[opi];
  handle_t *h = get_handle(env, argv[0], op->kind);
  if (!h) return NULL;
  call_t *c = calloc(1, sizeof *c);
  if (!c) {
    throw_error(env, "TOO_LARGE", "out of memory");
    return NULL;
  }
  c->op = op;
  c->h = h;
  c->ptr = h->ptr;
  size_t ai = 2;
  napi_value undef = js_undefined(env);
#define NEXT_ARG() (ai < argc ? argv[ai++] : (ai++, undef))
  if (op->id == OP_PUT_BATCH) {
    if (!parse_items(env, NEXT_ARG(), c, copy)) goto fail;
    return c;
  }
  for (int i = 0; i < op->nstrings; i++) {
    if (!get_string(env, NEXT_ARG(), "argument", &c->s[i])) goto fail;
  }
  if (op->has_data) {
    const uint8_t *p;
    size_t len;
    if (!get_bytes(env, NEXT_ARG(), &p, &len)) goto fail;
    if (copy && len > 0) {
      c->data_copy = malloc(len);
      if (!c->data_copy) {
        throw_error(env, "TOO_LARGE", "out of memory copying data");
        goto fail;
      }
      memcpy(c->data_copy, p, len);
      p = c->data_copy;
    }
    c->data = p;
    c->len = len;
  }
  if (op->has_flag) {
    napi_value v = NEXT_ARG();
    bool b = false;
    if (!is_nullish(env, v) && napi_get_value_bool(env, v, &b) != napi_ok) {
      throw_error(env, "INVALID_ARGUMENT", "flag must be a boolean");
      goto fail;
    }
    c->flag = b;
  }
#undef NEXT_ARG
  return c;
fail:
  call_free(c);
  return NULL;
}

/* Run the C function. Safe on any thread: touches only the call and the C handle. */
static void call_execute(call_t *c) {
  cacheness_cache *k = (cacheness_cache *)c->ptr;
  cacheness_store *s = (cacheness_store *)c->ptr;
  char **S = c->s;
  switch (c->op->id) {
    case OP_PUT: c->err = cacheness_cache_put(k, S[0], c->data, c->len, S[1], &c->str); break;
    case OP_GET: c->err = cacheness_cache_get(k, S[0], &c->bytes, &c->found); break;
    case OP_GET_WITH_METADATA: c->err = cacheness_cache_get_with_metadata(k, S[0], &c->bytes, &c->str, &c->found); break;
    case OP_GET_METADATA: c->err = cacheness_cache_get_metadata(k, S[0], &c->str, &c->found); break;
    case OP_EXISTS: c->err = cacheness_cache_exists(k, S[0], &c->found); break;
    case OP_DELETE: c->err = cacheness_cache_delete(k, S[0], &c->found); break;
    case OP_TOUCH: c->err = cacheness_cache_touch(k, S[0], S[1], &c->found); break;
    case OP_UPDATE_DATA: c->err = cacheness_cache_update_data(k, S[0], c->data, c->len, S[1], &c->found); break;
    case OP_UPDATE_METADATA: c->err = cacheness_cache_update_metadata(k, S[0], S[1], &c->found); break;
    case OP_COPY: c->err = cacheness_cache_copy(k, S[0], S[1], S[2], &c->found); break;
    case OP_MOVE: c->err = cacheness_cache_move(k, S[0], S[1], S[2], &c->found); break;
    case OP_LIST: c->err = cacheness_cache_list(k, S[0], S[1], &c->str); break;
    case OP_DELETE_WHERE: c->err = cacheness_cache_delete_where(k, S[0], &c->count); break;
    case OP_TOUCH_WHERE: c->err = cacheness_cache_touch_where(k, S[0], S[1], &c->count); break;
    case OP_UPDATE_METADATA_WHERE: c->err = cacheness_cache_update_metadata_where(k, S[0], S[1], &c->count); break;
    case OP_GET_BATCH: c->err = cacheness_cache_get_batch(k, S[0], &c->batch); break;
    case OP_PUT_BATCH: c->err = cacheness_cache_put_batch(k, c->items, c->nitems); break;
    case OP_DELETE_BATCH: c->err = cacheness_cache_delete_batch(k, S[0], &c->count); break;
    case OP_CLEANUP_EXPIRED: c->err = cacheness_cache_cleanup_expired(k, &c->count); break;
    case OP_CLEAR: c->err = cacheness_cache_clear(k, &c->count); break;
    case OP_STATS: c->err = cacheness_cache_stats(k, &c->str); break;
    case OP_VERIFY: c->err = cacheness_cache_verify(k, S[0], &c->str); break;
    case OP_REPAIR: c->err = cacheness_cache_repair(k, S[0], &c->str); break;
    case OP_FIND_ORPHANS: c->err = cacheness_cache_find_orphans(k, &c->str); break;
    case OP_CLEANUP_ORPHANS: c->err = cacheness_cache_cleanup_orphans(k, &c->count); break;
    case OP_EXPORT: c->err = cacheness_cache_export(k, S[0], S[1], &c->count); break;
    case OP_IMPORT: c->err = cacheness_cache_import(k, S[0], S[1], &c->count); break;
    case OP_EXPORT_JSON: c->err = cacheness_cache_export_json(k, S[0], &c->str); break;
    case OP_IMPORT_JSON: c->err = cacheness_cache_import_json(k, S[0], S[1], &c->count); break;
    case OP_STORE_PUT: c->err = cacheness_store_put(s, S[0], c->data, c->len, S[1]); break;
    case OP_STORE_GET: c->err = cacheness_store_get(s, S[0], &c->bytes, &c->found); break;
    case OP_STORE_GET_METADATA: c->err = cacheness_store_get_metadata(s, S[0], &c->str, &c->found); break;
    case OP_STORE_UPDATE_METADATA: c->err = cacheness_store_update_metadata(s, S[0], S[1], &c->found); break;
    case OP_STORE_UPDATE_DATA: c->err = cacheness_store_update_data(s, S[0], c->data, c->len, &c->found); break;
    case OP_STORE_EXISTS: c->err = cacheness_store_exists(s, S[0], &c->found); break;
    case OP_STORE_DELETE: c->err = cacheness_store_delete(s, S[0], &c->found); break;
    case OP_STORE_TOUCH: c->err = cacheness_store_touch(s, S[0], &c->found); break;
    case OP_STORE_LIST: c->err = cacheness_store_list(s, S[0], S[1], &c->str); break;
    case OP_STORE_DELETE_BY_PREFIX: c->err = cacheness_store_delete_by_prefix(s, S[0], &c->count); break;
    case OP_STORE_COPY: c->err = cacheness_store_copy(s, S[0], S[1], c->flag, &c->found); break;
    case OP_STORE_MOVE: c->err = cacheness_store_move(s, S[0], S[1], c->flag, &c->found); break;
    case OP_STORE_CLEAR: c->err = cacheness_store_clear(s, &c->count); break;
    case OP_COUNT_: break;
  }
}

/* Convert the outputs of a finished call into a JS value. On failure (C error or napi
 * failure) returns NULL and sets *error to the value to throw/reject with (if any). */
static napi_value call_result(napi_env env, call_t *c, napi_value *error) {
  *error = NULL;
  if (c->err) {
    *error = error_from_c(env, c->err);
    c->err = NULL;
    return NULL;
  }
  napi_value v = NULL;
  switch (c->op->result) {
    case R_UNDEFINED: return js_undefined(env);
    case R_BOOL:
      if (napi_get_boolean(env, c->found, &v) != napi_ok) return NULL;
      return v;
    case R_COUNT:
      if (napi_create_double(env, (double)c->count, &v) != napi_ok) return NULL;
      return v;
    case R_STRING: return c_string_to_js(env, c->str);
    case R_STRING_FOUND:
      if (!c->found) return js_undefined(env);
      return c_string_to_js(env, c->str);
    case R_BYTES_FOUND:
      if (!c->found) return js_undefined(env);
      return bytes_to_buffer(env, &c->bytes);
    case R_BYTES_META: {
      if (!c->found) return js_undefined(env);
      napi_value arr, buf, meta;
      if (napi_create_array_with_length(env, 2, &arr) != napi_ok) return NULL;
      if (!(buf = bytes_to_buffer(env, &c->bytes))) return NULL;
      if (!(meta = c_string_to_js(env, c->str))) return NULL;
      if (napi_set_element(env, arr, 0, buf) != napi_ok || napi_set_element(env, arr, 1, meta) != napi_ok) return NULL;
      return arr;
    }
    case R_BATCH: {
      size_t n = c->batch ? cacheness_batch_len(c->batch) : 0;
      napi_value arr;
      if (napi_create_array_with_length(env, n, &arr) != napi_ok) return NULL;
      for (size_t i = 0; i < n; i++) {
        const uint8_t *p = NULL;
        size_t len = 0;
        napi_value item;
        if (cacheness_batch_get(c->batch, i, &p, &len)) {
          void *ignored;
          napi_status st = len ? napi_create_buffer_copy(env, len, p, NULL, &item) : napi_create_buffer(env, 0, &ignored, &item);
          if (st != napi_ok) return NULL;
        } else {
          item = js_undefined(env);
        }
        if (napi_set_element(env, arr, (uint32_t)i, item) != napi_ok) return NULL;
      }
      return arr;
    }
  }
  return NULL;
}

/* callSync(handle, op, ...args) */
static napi_value js_call_sync(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc > 8) argc = 8;
  call_t *c = call_parse(env, argc, argv, false);
  if (!c) return NULL;
  call_execute(c);
  napi_value err = NULL;
  napi_value result = call_result(env, c, &err);
  call_free(c);
  if (!result) {
    if (err) napi_throw(env, err);
    else throw_napi_failure(env, napi_generic_failure, "building the result");
    return NULL;
  }
  return result;
}

/* ------------------------------------------------------------------------------------------ */
/* Sync fast paths: get, getMetadata and exists of a cache or a store.                        */
/*
 * The generic callSync above costs a call_t allocation, a malloc'd copy of every string and a
 * table dispatch; for the hottest sync calls that is a noticeable share of the C call itself.
 * These take exactly (handle, selector[, pool, offset]), copy a selector of up to
 * FAST_SEL_STACK bytes to the stack, and call the C function directly.
 *
 * get also avoids creating one ArrayBuffer per result, which costs about as much as all the
 * rest of the binding's work (allocation, V8's accounting and later sweeping of a backing
 * store, and the malloc traffic that comes with it). index.js passes a pool Buffer and an
 * offset: a value that fits in pool[offset..] is copied there and its length returned
 * (index.js then returns a Buffer over those bytes, as Buffer.allocUnsafe does with Node's own
 * pool); one that does not fit comes back as a Buffer of its own. A miss is undefined. */

#define FAST_SEL_STACK 1024
#define DEFER_FREE_MAX ((size_t)64 * 1024)

typedef enum { FAST_GET, FAST_GET_METADATA, FAST_EXISTS } fast_op;

/* The selector (or store key) argument as a NUL-terminated UTF-8 string: in `stack` when it
 * fits, else in *heap (malloc'd; the caller frees it). Returns NULL with a JS exception pending
 * on error. */
static const char *fast_string(napi_env env, napi_value v, const char *what, char *stack, char **heap) {
  *heap = NULL;
  size_t got = 0;
  napi_status st = napi_get_value_string_utf8(env, v, stack, FAST_SEL_STACK, &got);
  if (st == napi_string_expected) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s must be a string", what);
    throw_error(env, "INVALID_ARGUMENT", buf);
    return NULL;
  }
  if (st != napi_ok) {
    throw_napi_failure(env, st, "napi_get_value_string_utf8");
    return NULL;
  }
  const char *s = stack;
  /* napi_get_value_string_utf8 truncates at a character boundary: a string it cut short
   * leaves fewer than 4 of the FAST_SEL_STACK - 1 bytes unused. */
  if (got + 4 >= FAST_SEL_STACK) {
    size_t len = 0;
    if ((st = napi_get_value_string_utf8(env, v, NULL, 0, &len)) != napi_ok) {
      throw_napi_failure(env, st, "napi_get_value_string_utf8");
      return NULL;
    }
    if (!(*heap = malloc(len + 1))) {
      throw_error(env, "TOO_LARGE", "out of memory copying a string argument");
      return NULL;
    }
    if ((st = napi_get_value_string_utf8(env, v, *heap, len + 1, &got)) != napi_ok) {
      free(*heap);
      *heap = NULL;
      throw_napi_failure(env, st, "napi_get_value_string_utf8");
      return NULL;
    }
    s = *heap;
  }
  if (strlen(s) != got) {
    free(*heap);
    *heap = NULL;
    char buf[128];
    snprintf(buf, sizeof buf, "%s must not contain NUL characters", what);
    throw_error(env, "INVALID_ARGUMENT", buf);
    return NULL;
  }
  return s;
}

static napi_value fast_call(napi_env env, napi_callback_info info, handle_kind kind, fast_op op) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    throw_error(env, "INVALID_ARGUMENT", argc < 1 ? "internal: handle required"
                                                  : kind == KIND_CACHE ? "selector is required" : "key is required");
    return NULL;
  }
  handle_t *h = get_handle(env, argv[0], kind);
  if (!h) return NULL;
  /* The pool (get only): a Buffer / Uint8Array and a byte offset into it. Absent or
   * undefined: every value comes back as a Buffer of its own. */
  uint8_t *pool = NULL;
  size_t pool_free = 0;
  if (op == FAST_GET && argc >= 3 && !is_nullish(env, argv[2])) {
    void *data = NULL;
    size_t len = 0;
    uint32_t off = 0;
    bool is_ta = false;
    napi_typedarray_type type = napi_int8_array;
    if (napi_is_typedarray(env, argv[2], &is_ta) != napi_ok || !is_ta ||
        napi_get_typedarray_info(env, argv[2], &type, &len, &data, NULL, NULL) != napi_ok || type != napi_uint8_array ||
        argc < 4 || napi_get_value_uint32(env, argv[3], &off) != napi_ok || off > len) {
      throw_error(env, "INVALID_ARGUMENT", "internal: bad result pool or offset");
      return NULL;
    }
    pool = (uint8_t *)data + off;
    pool_free = len - off;
  }
  char stack[FAST_SEL_STACK];
  char *heap = NULL;
  const char *sel = fast_string(env, argv[1], kind == KIND_CACHE ? "selector" : "key", stack, &heap);
  if (!sel) return NULL;
  /* Free the previous pooled result's C bytes now, before the C call, so that the library's
   * next allocation can reuse that (cache-hot) memory. */
  addon_state *st = NULL;
  if (op == FAST_GET && napi_get_instance_data(env, (void **)&st) == napi_ok && st && st->deferred_free.data) {
    cacheness_bytes_free(st->deferred_free);
    st->deferred_free.data = NULL;
    st->deferred_free.len = 0;
  }

  cacheness_error *e = NULL;
  bool found = false;
  cacheness_bytes bytes = {NULL, 0};
  char *str = NULL;
  if (kind == KIND_CACHE) {
    cacheness_cache *k = h->ptr;
    switch (op) {
      case FAST_GET: e = cacheness_cache_get(k, sel, &bytes, &found); break;
      case FAST_GET_METADATA: e = cacheness_cache_get_metadata(k, sel, &str, &found); break;
      case FAST_EXISTS: e = cacheness_cache_exists(k, sel, &found); break;
    }
  } else {
    cacheness_store *s = h->ptr;
    switch (op) {
      case FAST_GET: e = cacheness_store_get(s, sel, &bytes, &found); break;
      case FAST_GET_METADATA: e = cacheness_store_get_metadata(s, sel, &str, &found); break;
      case FAST_EXISTS: e = cacheness_store_exists(s, sel, &found); break;
    }
  }
  free(heap);

  if (e) {
    if (bytes.data) cacheness_bytes_free(bytes);
    if (str) cacheness_string_free(str);
    napi_value err = error_from_c(env, e);
    if (err) napi_throw(env, err);
    return NULL;
  }
  napi_value v = NULL;
  switch (op) {
    case FAST_EXISTS:
      NAPI_CALL(env, napi_get_boolean(env, found, &v));
      return v;
    case FAST_GET_METADATA:
      v = found ? c_string_to_js(env, str) : js_undefined(env);
      if (str) cacheness_string_free(str);
      if (!v) throw_napi_failure(env, napi_generic_failure, "building the result");
      return v;
    case FAST_GET:
      break;
  }
  if (!found) {
    if (bytes.data) cacheness_bytes_free(bytes);
    return js_undefined(env);
  }
  if (pool && bytes.len <= pool_free && bytes.len <= (size_t)INT32_MAX) {
    if (bytes.len) memcpy(pool, bytes.data, bytes.len);
    int32_t n = (int32_t)bytes.len;
    /* The pool is usually not in the CPU cache (it is fresh memory each time), so the copy
     * leaves its stores still draining; free() takes a lock, which would wait for all of them.
     * Free the source later instead (at the next fast get; at most one per environment, of at
     * most DEFER_FREE_MAX bytes), by which time they have long completed. */
    if (bytes.data) {
      if (st && bytes.len <= DEFER_FREE_MAX && !st->deferred_free.data) st->deferred_free = bytes;
      else cacheness_bytes_free(bytes);
    }
    NAPI_CALL(env, napi_create_int32(env, n, &v));
    return v;
  }
  v = bytes_to_buffer(env, &bytes); /* takes ownership of bytes */
  if (!v) throw_napi_failure(env, napi_generic_failure, "building the result");
  return v;
}

/* cacheGetSync(cache, selector[, pool, offset]) -> length in pool | Buffer | undefined */
static napi_value js_cache_get_sync(napi_env env, napi_callback_info info) { return fast_call(env, info, KIND_CACHE, FAST_GET); }
/* cacheGetMetadataSync(cache, selector) -> JSON string | undefined */
static napi_value js_cache_get_metadata_sync(napi_env env, napi_callback_info info) { return fast_call(env, info, KIND_CACHE, FAST_GET_METADATA); }
/* cacheExistsSync(cache, selector) -> boolean */
static napi_value js_cache_exists_sync(napi_env env, napi_callback_info info) { return fast_call(env, info, KIND_CACHE, FAST_EXISTS); }
/* storeGetSync(store, key[, pool, offset]) -> length in pool | Buffer | undefined */
static napi_value js_store_get_sync(napi_env env, napi_callback_info info) { return fast_call(env, info, KIND_STORE, FAST_GET); }
/* storeGetMetadataSync(store, key) -> JSON string | undefined */
static napi_value js_store_get_metadata_sync(napi_env env, napi_callback_info info) { return fast_call(env, info, KIND_STORE, FAST_GET_METADATA); }
/* storeExistsSync(store, key) -> boolean */
static napi_value js_store_exists_sync(napi_env env, napi_callback_info info) { return fast_call(env, info, KIND_STORE, FAST_EXISTS); }

static void async_execute(napi_env env, void *data) {
  (void)env;
  call_execute((call_t *)data);
}

static addon_state *state_of(napi_env env) {
  addon_state *st = NULL;
  if (napi_get_instance_data(env, (void **)&st) != napi_ok) return NULL;
  return st;
}

/* Submit queued calls while there is a free slot. A call whose submission fails is settled
 * with an error at once. */
static void submit_queued(napi_env env, addon_state *st) {
  while (st->queue_head && st->inflight < st->max_inflight) {
    call_t *c = st->queue_head;
    st->queue_head = c->next;
    if (!st->queue_head) st->queue_tail = NULL;
    c->next = NULL;
    if (napi_queue_async_work(env, c->work) == napi_ok) {
      st->inflight++;
      continue;
    }
    napi_value err = make_error(env, "BUSY", "cacheness addon: could not queue the operation");
    napi_reject_deferred(env, c->deferred, err ? err : js_undefined(env));
    napi_delete_async_work(env, c->work);
    handle_t *h = c->h;
    call_free(c);
    h->pending--;
    handle_release(h);
  }
}

static void async_complete(napi_env env, napi_status status, void *data) {
  call_t *c = data;
  handle_t *h = c->h;
  addon_state *st = state_of(env);
  if (st && st->inflight > 0) st->inflight--;
  napi_value err = NULL, result = NULL;
  if (status == napi_cancelled) {
    err = make_error(env, "BUSY", "the operation was cancelled");
  } else {
    result = call_result(env, c, &err);
    if (!result && !err) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) napi_get_and_clear_last_exception(env, &err);
      else err = make_error(env, "PANIC", "cacheness addon: failed to build the result");
    }
  }
  if (result) napi_resolve_deferred(env, c->deferred, result);
  else napi_reject_deferred(env, c->deferred, err ? err : js_undefined(env));
  napi_delete_async_work(env, c->work);
  call_free(c);
  h->pending--;
  handle_release(h);
  if (st) submit_queued(env, st);
}

/* callAsync(handle, op, ...args) -> Promise. Argument errors throw synchronously; index.js
 * turns them into rejections.
 *
 * At most max_inflight calls (4 x UV_THREADPOOL_SIZE) are submitted to the libuv
 * pool at once; the rest wait in a FIFO and are submitted as earlier ones complete. This keeps
 * the pool's queue short (fs, dns and crypto share it) and bounds how many completions the
 * event loop handles in one turn, so 10,000 concurrent gets do not stall timers. */
static napi_value js_call_async(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc > 8) argc = 8;
  call_t *c = call_parse(env, argc, argv, true);
  if (!c) return NULL;
  napi_value promise, name;
  napi_status st = napi_create_promise(env, &c->deferred, &promise);
  if (st == napi_ok) st = napi_create_string_utf8(env, c->op->name, NAPI_AUTO_LENGTH, &name);
  if (st == napi_ok) st = napi_create_async_work(env, NULL, name, async_execute, async_complete, c, &c->work);
  if (st != napi_ok) {
    /* A created-but-unsettled deferred is simply dropped (its promise never settles, but
     * we throw instead of returning it). */
    call_free(c);
    throw_napi_failure(env, st, "creating async work");
    return NULL;
  }
  addon_state *state = state_of(env);
  if (!state) {
    napi_delete_async_work(env, c->work);
    call_free(c);
    throw_napi_failure(env, napi_generic_failure, "napi_get_instance_data");
    return NULL;
  }
  c->h->pending++;
  if (state->queue_tail) state->queue_tail->next = c;
  else state->queue_head = c;
  state->queue_tail = c;
  submit_queued(env, state);
  return promise;
}

/* At environment teardown (e.g. a worker thread ending), drop calls never submitted so their
 * handles can be released. */
static void drop_queued(void *arg) {
  addon_state *st = arg;
  while (st->queue_head) {
    call_t *c = st->queue_head;
    st->queue_head = c->next;
    handle_t *h = c->h;
    call_free(c);
    h->pending--;
    handle_release(h);
  }
  st->queue_tail = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* deleteMatching: the predicate runs on the JS thread, inside the C call.                     */

typedef struct {
  napi_env env;
  napi_value fn;
  pthread_t thread;
  bool failed;       /* a JS exception is pending, or the predicate misbehaved */
  bool wrong_thread; /* the library called the predicate on another thread */
} predicate_ctx;

static bool predicate_trampoline(const char *metadata_json, void *vctx) {
  predicate_ctx *p = vctx;
  if (p->failed) return false;
  if (!pthread_equal(pthread_self(), p->thread)) {
    /* Calling into JS from here would corrupt the VM: refuse. */
    p->wrong_thread = true;
    p->failed = true;
    return false;
  }
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    p->failed = true;
    return false;
  }
  bool keep_going = true, ret = false;
  napi_value arg, recv, result;
  if (napi_create_string_utf8(env, metadata_json ? metadata_json : "null", NAPI_AUTO_LENGTH, &arg) != napi_ok ||
      napi_get_undefined(env, &recv) != napi_ok ||
      napi_call_function(env, recv, p->fn, 1, &arg, &result) != napi_ok) {
    keep_going = false;
  } else {
    napi_value as_bool;
    if (napi_coerce_to_bool(env, result, &as_bool) != napi_ok || napi_get_value_bool(env, as_bool, &ret) != napi_ok)
      keep_going = false;
  }
  napi_close_handle_scope(env, scope);
  if (!keep_going) {
    p->failed = true;
    return false;
  }
  return ret;
}

/* deleteMatching(handle, filterJson | null, predicate(metadataJson) -> boolean) -> number */
static napi_value js_delete_matching(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    throw_error(env, "INVALID_ARGUMENT", "filter and predicate are required");
    return NULL;
  }
  handle_t *h = get_handle(env, argv[0], KIND_CACHE);
  if (!h) return NULL;
  napi_valuetype t;
  NAPI_CALL(env, napi_typeof(env, argv[2], &t));
  if (t != napi_function) {
    throw_error(env, "INVALID_ARGUMENT", "predicate must be a function");
    return NULL;
  }
  char *filter = NULL;
  if (!get_string(env, argv[1], "filter", &filter)) return NULL;
  predicate_ctx ctx = {env, argv[2], pthread_self(), false, false};
  uint64_t count = 0;
  /* The predicate may run arbitrary JS, including other calls on this handle (the library
   * runs it outside its locks) and close(): keep the C handle alive until we return. */
  h->pending++;
  cacheness_error *e = cacheness_cache_delete_matching((cacheness_cache *)h->ptr, filter, predicate_trampoline, &ctx, &count);
  h->pending--;
  free(filter);
  handle_release(h); /* h itself stays valid: the caller's JS wrapper still references it */
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    /* The predicate threw: that exception wins over whatever the library reported. */
    if (e) cacheness_error_free(e);
    return NULL;
  }
  if (ctx.wrong_thread) {
    if (e) cacheness_error_free(e);
    throw_error(env, "PANIC", "cacheness called the deleteMatching predicate on another thread");
    return NULL;
  }
  if (e) {
    napi_value err = error_from_c(env, e);
    if (err) napi_throw(env, err);
    return NULL;
  }
  napi_value v;
  NAPI_CALL(env, napi_create_double(env, (double)count, &v));
  return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Module-level functions                                                                      */

static napi_value js_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char *params = NULL;
  if (argc >= 1 && !get_string(env, argv[0], "params", &params)) return NULL;
  char *key = NULL;
  cacheness_error *e = cacheness_key(params, &key);
  free(params);
  if (e) {
    napi_value err = error_from_c(env, e);
    if (err) napi_throw(env, err);
    return NULL;
  }
  napi_value v = c_string_to_js(env, key);
  cacheness_string_free(key);
  return v;
}

static napi_value js_version(napi_env env, napi_callback_info info) {
  (void)info;
  return c_string_to_js(env, cacheness_version());
}

/* testPanic(): throws the CACHENESS_PANIC error produced by the library's test hook. */
static napi_value js_test_panic(napi_env env, napi_callback_info info) {
  (void)info;
  cacheness_error *e = cacheness_test_panic();
  if (!e) return js_undefined(env);
  napi_value err = error_from_c(env, e);
  if (err) napi_throw(env, err);
  return NULL;
}

/* setErrorClass(CachenessError): the class used for every error thrown or rejected here. */
static napi_value js_set_error_class(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t = napi_undefined;
  if (argc >= 1) NAPI_CALL(env, napi_typeof(env, argv[0], &t));
  if (t != napi_function) {
    napi_throw_type_error(env, NULL, "setErrorClass expects a class");
    return NULL;
  }
  addon_state *st = NULL;
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&st));
  if (st->error_class) napi_delete_reference(env, st->error_class);
  st->error_class = NULL;
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &st->error_class));
  return js_undefined(env);
}

static napi_value init(napi_env env, napi_value exports) {
  addon_state *st = calloc(1, sizeof *st);
  if (!st) {
    napi_throw_error(env, NULL, "cacheness addon: out of memory");
    return NULL;
  }
  NAPI_CALL(env, napi_set_instance_data(env, st, addon_state_free, NULL));
  {
    /* libuv's pool has UV_THREADPOOL_SIZE threads (default 4, at most 1024). */
    long pool = 4;
    const char *env_pool = getenv("UV_THREADPOOL_SIZE");
    if (env_pool && *env_pool) {
      char *end = NULL;
      long v = strtol(env_pool, &end, 10);
      if (end && *end == '\0' && v > 0) pool = v > 1024 ? 1024 : v;
    }
    st->max_inflight = (uint32_t)(4 * pool);
  }
  NAPI_CALL(env, napi_add_env_cleanup_hook(env, drop_queued, st));
  for (uint32_t i = 0; i < OP_COUNT_; i++) {
    if (OPS[i].id != (op_id)i || !OPS[i].name) {
      napi_throw_error(env, NULL, "cacheness addon: operation table out of order");
      return NULL;
    }
  }

  napi_property_descriptor props[] = {
      {"cacheOpen", NULL, js_cache_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"storeOpen", NULL, js_store_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"handleState", NULL, js_handle_state, NULL, NULL, NULL, napi_enumerable, NULL},
      {"callSync", NULL, js_call_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"callAsync", NULL, js_call_async, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cacheGetSync", NULL, js_cache_get_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cacheGetMetadataSync", NULL, js_cache_get_metadata_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cacheExistsSync", NULL, js_cache_exists_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"storeGetSync", NULL, js_store_get_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"storeGetMetadataSync", NULL, js_store_get_metadata_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"storeExistsSync", NULL, js_store_exists_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"deleteMatching", NULL, js_delete_matching, NULL, NULL, NULL, napi_enumerable, NULL},
      {"key", NULL, js_key, NULL, NULL, NULL, napi_enumerable, NULL},
      {"version", NULL, js_version, NULL, NULL, NULL, napi_enumerable, NULL},
      {"testPanic", NULL, js_test_panic, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setErrorClass", NULL, js_set_error_class, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));

  /* ops: { put: 0, get: 1, ... } so index.js never hard-codes the numbering. */
  napi_value ops;
  NAPI_CALL(env, napi_create_object(env, &ops));
  for (uint32_t i = 0; i < OP_COUNT_; i++) {
    napi_value v;
    NAPI_CALL(env, napi_create_uint32(env, i, &v));
    NAPI_CALL(env, napi_set_named_property(env, ops, OPS[i].name, v));
  }
  NAPI_CALL(env, napi_set_named_property(env, exports, "ops", ops));
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
