'use strict';
// Finding, loading and declaring libbrowserbase (internal). Used by the main
// thread (quick calls: building clients to check settings, freeing handles,
// the version) and by every worker thread (the blocking calls).
//
// Places tried, in order:
//   1. the path in BROWSERBASE_C_LIBRARY (when set, the only place tried: a
//      mistyped override must not silently load some other copy);
//   2. libbrowserbase.so* next to the package (its root directory, then lib/);
//   3. the system search path: libbrowserbase.so.0 (the soname), then
//      libbrowserbase.so.
// When nothing loads, LibraryNotFoundError lists every place tried and why.

const fs = require('fs');
const path = require('path');
const koffi = require('koffi');
const { LibraryNotFoundError } = require('./errors');

const ENV_LIBRARY = 'BROWSERBASE_C_LIBRARY';
const PACKAGE_DIR = path.resolve(__dirname, '..');

function systemNames() {
  return process.platform === 'darwin'
    ? ['libbrowserbase.0.dylib', 'libbrowserbase.dylib']
    : ['libbrowserbase.so.0', 'libbrowserbase.so'];
}

/** [description, target or null] in the order they are tried. */
function candidates() {
  const override = process.env[ENV_LIBRARY];
  if (override) return [[`$${ENV_LIBRARY}=${override}`, override]];
  const places = [];
  for (const dir of [PACKAGE_DIR, path.join(PACKAGE_DIR, 'lib')]) {
    let names = [];
    try {
      names = fs.readdirSync(dir).filter((n) => /^libbrowserbase(\.so.*|.*\.dylib)$/.test(n)).sort();
    } catch (_) {
      names = [];
    }
    if (names.length === 0) places.push([`next to the package: no libbrowserbase.so* in ${dir}`, null]);
    for (const n of names) places.push([`next to the package: ${path.join(dir, n)}`, path.join(dir, n)]);
  }
  for (const n of systemNames()) places.push([`the system search path: ${n}`, n]);
  return places;
}

// Opaque handles are plain pointers (BigInt addresses in koffi), so that they
// can be handed to worker threads as numbers. Strings go in as NUL-terminated
// byte arrays made by the package (never JS strings: koffi would cut them at
// an embedded NUL).
const STR = 'const uint8_t *';
const ERR = '_Out_ void **err';
const BUF = '_Out_ uint8_t **out_data, _Out_ size_t *out_len';
const OPTS = 'const bb_call_options *options';

const PROTOTYPES = [
  'const char *bb_version(void)',
  'const char *bb_code_name(int code)',
  'int bb_error_code(void *err)',
  'int bb_error_http_status(void *err)',
  'const char *bb_error_message(void *err)',
  'void bb_error_free(void *err)',
  'void bb_buffer_free(void *data, size_t len)',
  `int bb_download_session(${STR} api_key, ${STR} session_id, ${STR} path, ${ERR})`,
  `int bb_download_session_to_buffer(${STR} api_key, ${STR} session_id, ${BUF}, ${ERR})`,
  `int bb_download_session_to_callback(${STR} api_key, ${STR} session_id, bb_write_callback *write, void *user, ${ERR})`,
  `int bb_wait_for_downloads(${STR} api_key, ${STR} session_id, uint32_t timeout_ms, ${STR} path, ${ERR})`,
  `int bb_wait_for_downloads_to_buffer(${STR} api_key, ${STR} session_id, uint32_t timeout_ms, ${BUF}, ${ERR})`,
  `int bb_extract_downloads(${STR} api_key, ${STR} session_id, uint32_t timeout_ms, ${STR} dir, ${ERR})`,
  'void *bb_client_builder_new(void)',
  'void bb_client_builder_free(void *b)',
  `int bb_client_builder_load_env(void *b, ${ERR})`,
  `int bb_client_builder_set_base_url(void *b, ${STR} v, ${ERR})`,
  `int bb_client_builder_set_api_key(void *b, ${STR} v, ${ERR})`,
  `int bb_client_builder_set_connect_timeout_ms(void *b, uint32_t v, ${ERR})`,
  `int bb_client_builder_set_timeout_ms(void *b, uint32_t v, ${ERR})`,
  `int bb_client_builder_set_deadline_ms(void *b, uint32_t v, ${ERR})`,
  `int bb_client_builder_set_max_retries(void *b, uint32_t v, ${ERR})`,
  `int bb_client_builder_set_user_agent_suffix(void *b, ${STR} v, ${ERR})`,
  `int bb_client_builder_add_ca_file(void *b, ${STR} v, ${ERR})`,
  `int bb_client_builder_set_proxy(void *b, ${STR} v, ${ERR})`,
  `int bb_client_builder_set_fsync(void *b, int v, ${ERR})`,
  `int bb_client_builder_set_progress(void *b, bb_progress_callback *cb, void *user, ${ERR})`,
  `int bb_client_new(void *b, _Out_ void **out, ${ERR})`,
  'void bb_client_free(void *c)',
  `int bb_client_download(void *c, ${STR} api_key, ${STR} session_id, ${STR} path, ${ERR})`,
  `int bb_client_download_to_buffer(void *c, ${STR} api_key, ${STR} session_id, ${BUF}, ${ERR})`,
  `int bb_client_download_to_callback(void *c, ${STR} api_key, ${STR} session_id, bb_write_callback *write, void *user, ${ERR})`,
  `int bb_client_wait_for_downloads(void *c, ${STR} api_key, ${STR} session_id, uint32_t timeout_ms, uint32_t flags, ${STR} path, ${ERR})`,
  `int bb_client_wait_for_downloads_to_buffer(void *c, ${STR} api_key, ${STR} session_id, uint32_t timeout_ms, uint32_t flags, ${BUF}, ${ERR})`,
  `int bb_client_extract_downloads(void *c, ${STR} api_key, ${STR} session_id, uint32_t timeout_ms, uint32_t flags, ${STR} dir, ${ERR})`,
  `int bb_archive_open_file(${STR} path, _Out_ void **out, ${ERR})`,
  `int bb_archive_open_buffer(const uint8_t *data, size_t len, _Out_ void **out, ${ERR})`,
  'size_t bb_archive_entry_count(void *archive)',
  `int bb_archive_entry_at(void *archive, size_t index, _Inout_ bb_archive_entry *out, ${ERR})`,
  `int bb_archive_set_limits(void *archive, uint64_t max_total_bytes, uint32_t max_ratio, ${ERR})`,
  `int bb_archive_extract_to(void *archive, ${STR} dir, ${ERR})`,
  'void bb_archive_free(void *archive)',
  `int bb_archive_extract(${STR} zip_path, ${STR} dir, ${ERR})`,
  // user_data is a number here (uintptr_t: the same ABI as void *): the id
  // of a handler in lib/log.js.
  // Cancellation and per-call options (client NULL: the default client).
  `int bb_cancel_new(_Out_ void **out, ${ERR})`,
  'void bb_cancel_trigger(void *cancel)',
  'void bb_cancel_free(void *cancel)',
  `int bb_client_download_opts(void *c, ${STR} api_key, ${STR} session_id, ${STR} path, ${OPTS}, ${ERR})`,
  `int bb_client_download_to_buffer_opts(void *c, ${STR} api_key, ${STR} session_id, ${BUF}, ${OPTS}, ${ERR})`,
  `int bb_client_download_to_callback_opts(void *c, ${STR} api_key, ${STR} session_id, bb_write_callback *write, void *user, ${OPTS}, ${ERR})`,
  `int bb_client_wait_for_downloads_opts(void *c, ${STR} api_key, ${STR} session_id, uint32_t timeout_ms, uint32_t flags, ${STR} path, ${OPTS}, ${ERR})`,
  `int bb_client_wait_for_downloads_to_buffer_opts(void *c, ${STR} api_key, ${STR} session_id, uint32_t timeout_ms, uint32_t flags, ${BUF}, ${OPTS}, ${ERR})`,
  `int bb_client_extract_downloads_opts(void *c, ${STR} api_key, ${STR} session_id, uint32_t timeout_ms, uint32_t flags, ${STR} dir, ${OPTS}, ${ERR})`,
  `int bb_archive_extract_to_opts(void *archive, ${STR} dir, ${OPTS}, ${ERR})`,
  // Many sessions (0.3): ids as an array of NUL-terminated byte arrays
  // (koffi passes each Uint8Array by address), codes into an Int32Array.
  `int bb_client_download_sessions_opts(void *c, ${STR} api_key, const uint8_t **session_ids, size_t count, ${STR} dir, unsigned int concurrency, ${OPTS}, int *results, ${ERR})`,
  `int bb_client_builder_set_resume(void *b, int v, ${ERR})`,
  `int bb_set_log_callback_v2(bb_log_callback *cb, uintptr_t user, bb_destroy_callback *destroy, int max_level, ${ERR})`,
];

let types = null;
function declareTypes() {
  if (types) return types;
  types = {
    write: koffi.proto('int bb_write_callback(void *user, void *data, size_t len)'),
    progress: koffi.proto('int bb_progress_callback(void *user, uint64_t received, int64_t total)'),
    log: koffi.proto('void bb_log_callback(uintptr_t user, int level, const char *message)'),
    destroy: koffi.proto('void bb_destroy_callback(uintptr_t user)'),
    // Size-first (see the header): struct_size tells the library how much
    // of the struct this package knows; the library fills only that.
    // Size-first too; the cancel handle's address as a number (the package
    // hands handles to worker threads as BigInt addresses).
    options: koffi.struct('bb_call_options', {
      struct_size: 'size_t',
      cancel: 'uintptr_t',
      progress: 'uintptr_t',
      progress_user_data: 'uintptr_t',
      batch_progress: 'uintptr_t',
      batch_progress_user_data: 'uintptr_t',
    }),
    batchCallback: koffi.proto('int bb_batch_progress_callback(void *user, void *progress)'),
    batchProgress: koffi.struct('bb_batch_progress', {
      struct_size: 'size_t',
      index: 'size_t',
      session_id: 'const char *',
      received: 'uint64_t',
      total: 'int64_t',
      finished: 'int',
      code: 'int',
      message: 'const char *',
      succeeded: 'size_t',
      failed: 'size_t',
      count: 'size_t',
      batch_received: 'uint64_t',
    }),
    entry: koffi.struct('bb_archive_entry', {
      struct_size: 'size_t',
      name: 'const char *',
      original_name: 'const char *',
      size: 'uint64_t',
      mtime_unix: 'int64_t',
      download_time_ms: 'int64_t',
    }),
  };
  return types;
}

let loaded = null;

/** { fns, path, types }: loaded and declared on the first call. `target`
 *  (a worker passes the main thread's choice) skips the search. */
function load(target) {
  if (loaded) return loaded;
  declareTypes();
  const failures = [];
  const places = target ? [[target, target]] : candidates();
  for (const [description, file] of places) {
    if (file === null) {
      failures.push(description);
      continue;
    }
    let lib;
    try {
      lib = koffi.load(file);
    } catch (e) {
      failures.push(`${description}: ${e.message}`);
      continue;
    }
    const fns = {};
    const missing = [];
    for (const proto of PROTOTYPES) {
      const name = /\b(bb_[a-z0-9_]+)\(/.exec(proto)[1];
      try {
        fns[name] = lib.func(proto);
      } catch (e) {
        missing.push(name);
      }
    }
    if (missing.length) {
      failures.push(`${description}: not a usable libbrowserbase (too old?): lacks ${missing.join(', ')}`);
      continue;
    }
    loaded = { fns, path: file, types };
    return loaded;
  }
  throw new LibraryNotFoundError(
    'cannot load libbrowserbase; tried:\n' +
      failures.map((f) => `  - ${f}`).join('\n') +
      `\nBuild it (cargo build) and set ${ENV_LIBRARY} to the .so's path, ` +
      'or install it where the dynamic loader finds it.',
  );
}

/** Reads and frees a bb_error: { code, status, message }. */
function takeError(fns, rc, err) {
  if (!err) return { code: rc, status: 0, message: fns.bb_code_name(rc) || 'BB_UNKNOWN_CODE' };
  try {
    return {
      code: fns.bb_error_code(err) || rc,
      status: fns.bb_error_http_status(err),
      message: fns.bb_error_message(err) || '',
    };
  } finally {
    fns.bb_error_free(err);
  }
}

module.exports = { ENV_LIBRARY, PACKAGE_DIR, candidates, load, takeError, koffi };
