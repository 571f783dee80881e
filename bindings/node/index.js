'use strict';
// browserbase-c: the files a Browserbase session downloaded, through
// libbrowserbase (the C library), loaded with koffi. See README.md.

const { fileURLToPath } = require('url');
const native = require('./lib/native');
const pool = require('./lib/pool');
const errors = require('./lib/errors');
const log = require('./lib/log');

const { InvalidArgumentError, CancelledError, makeError } = errors;
const UINT32_MAX = 0xffffffff;
const UINT64_MAX = 0xffffffffffffffffn;
const BB_WAIT_STABLE = 1;

// ---------------------------------------------------------------------------
// The library, loaded on first use (so that requiring the package, for its
// error classes say, never fails).
// ---------------------------------------------------------------------------

let loaded = null;
function lib() {
  if (!loaded) {
    loaded = native.load();
    pool.setLibrary(loaded.path);
  }
  return loaded.fns;
}

function check(fns, rc, err) {
  if (rc !== 0) {
    const e = native.takeError(fns, rc, err[0]);
    throw makeError(e.code, e.status, e.message);
  }
}

// ---------------------------------------------------------------------------
// Arguments: converted (and refused) before anything reaches the library.
// ---------------------------------------------------------------------------

function cBytes(bytes) {
  // A fresh, NUL-terminated array of its own (not a slice of Buffer's shared
  // pool, which postMessage would copy whole).
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
function wellFormed(s) {
  // String.prototype.isWellFormed arrived in Node 20; the package supports 18.
  return typeof s.isWellFormed === 'function' ? s.isWellFormed() : !LONE_SURROGATE.test(s);
}

function text(what, value, optional = false) {
  if (value === undefined || value === null) {
    if (optional) return null;
    throw new TypeError(`${what} must be a string, not ${value}`);
  }
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string, not ${typeof value}`);
  if (value.includes('\0')) throw new InvalidArgumentError(`${what} contains a NUL character`);
  if (!wellFormed(value)) throw new InvalidArgumentError(`${what} is not valid Unicode (a lone surrogate)`);
  return cBytes(Buffer.from(value, 'utf8'));
}

/** A path: a string (UTF-8), a Buffer (bytes as they are) or a file: URL. */
function pathArg(what, value) {
  if (value instanceof URL) {
    if (value.protocol !== 'file:') throw new InvalidArgumentError(`${what} must be a file: URL`);
    value = fileURLToPath(value);
  }
  if (typeof value === 'string') {
    if (value.length === 0) throw new InvalidArgumentError(`${what} is empty`);
    return text(what, value);
  }
  if (value instanceof Uint8Array) {
    if (value.includes(0)) throw new InvalidArgumentError(`${what} contains a NUL byte`);
    if (value.length === 0) throw new InvalidArgumentError(`${what} is empty`);
    return cBytes(value);
  }
  throw new TypeError(`${what} must be a string, Buffer or file: URL, not ${typeof value}`);
}

/** Milliseconds for a uint32_t; a positive value under 1 becomes 1. */
function ms(what, value, { allowZero, infinityMeansMax = false }) {
  if (typeof value !== 'number') throw new TypeError(`${what} must be a number of milliseconds, not ${typeof value}`);
  if (value === Infinity && infinityMeansMax) return UINT32_MAX;
  if (Number.isNaN(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new InvalidArgumentError(`${what} must be ${allowZero ? '>= 0' : '> 0'} milliseconds, not ${value}`);
  }
  if (value > UINT32_MAX) throw new InvalidArgumentError(`${what} is too long: at most ${UINT32_MAX} ms`);
  const rounded = Math.round(value);
  return rounded === 0 && value > 0 ? 1 : rounded;
}

function uint(what, value, max) {
  if (!Number.isInteger(value)) throw new TypeError(`${what} must be an integer, not ${value}`);
  if (value < 0 || value > max) throw new InvalidArgumentError(`${what} must be between 0 and ${max}, not ${value}`);
  return value;
}

function options(opts) {
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object') throw new TypeError(`options must be an object, not ${typeof opts}`);
  return opts;
}

// A call's AbortSignal, through the library's cancel handle: an aborted
// signal refuses the call before anything is sent; otherwise the main thread
// makes a bb_cancel for the call, hands its address to the worker with the
// call, and triggers it on the signal's 'abort' event (bb_cancel_trigger is
// safe from any thread), which ends the C call within about 100 ms wherever
// it is, even stalled on a silent server. The handle is freed once the call
// has returned. The rejection is a CancelledError whose cause is the
// signal's reason.
function abortedError(signal) {
  return new CancelledError('the call was aborted', { cause: signal.reason });
}

function checkSignal(signal) {
  if (signal === undefined || signal === null) return null;
  if (typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') {
    throw new TypeError('signal must be an AbortSignal');
  }
  if (signal.aborted) throw abortedError(signal);
  return signal;
}

/** Runs `message` on the pool, cancellable through `signal` (checked). */
async function runAbortable(message, handlers, signal) {
  if (!signal) return pool.run(message, handlers);
  const fns = lib();
  const out = [null];
  const err = [null];
  check(fns, fns.bb_cancel_new(out, err), err);
  const handle = out[0];
  const trigger = () => fns.bb_cancel_trigger(handle);
  signal.addEventListener('abort', trigger, { once: true });
  // Also looked at whenever the library hands control back (chunks, progress).
  // (Not for a batch under way, see pool.js: its abort resolves with each
  // session's result.)
  const stopped = () => (signal.aborted ? abortedError(signal) : null);
  try {
    return await pool.run({ ...message, cancel: handle }, handlers, stopped, signal);
  } catch (e) {
    if (signal.aborted && e instanceof CancelledError && e.cause === undefined) throw abortedError(signal);
    throw e;
  } finally {
    signal.removeEventListener('abort', trigger);
    fns.bb_cancel_free(handle);
  }
}

/** The arguments of a batch (bb_client_download_sessions_opts without the
 *  client), and its handlers; everything refused before anything is sent. */
function batchArgs(sessionIds, dir, opts) {
  if (typeof sessionIds === 'string' || !sessionIds || typeof sessionIds[Symbol.iterator] !== 'function') {
    throw new TypeError('sessionIds must be an array (an iterable) of session ids, not a single string');
  }
  const ids = [...sessionIds];
  const bytes = ids.map((id, i) => text(`sessionIds[${i}]`, id));
  const concurrency = opts.concurrency === undefined || opts.concurrency === null ? 0 : uint('concurrency', opts.concurrency, UINT32_MAX);
  const handlers = {};
  if (opts.onProgress !== undefined && opts.onProgress !== null) {
    if (typeof opts.onProgress !== 'function') throw new TypeError('onProgress must be a function');
    const onProgress = opts.onProgress;
    const signal = opts.signal;
    handlers.batchProgress = async (msg) => {
      if (signal && signal.aborted) return false;
      return (await onProgress(msg.progress)) !== false;
    };
  }
  const args = [text('apiKey', opts.apiKey, true), bytes, pathArg('dir', dir), concurrency];
  return { ids, args, handlers, onProgress: handlers.batchProgress !== undefined };
}

/** A Map id -> null | the typed error, from the worker's { codes, reasons }
 *  (a Map, in the ids' order: an id such as "__proto__" is just a key). A
 *  session the aborted batch did not finish is a CancelledError whose cause
 *  is the signal's reason. */
function batchResults(ids, { codes, reasons }, signal) {
  const out = new Map();
  ids.forEach((id, i) => {
    const code = codes[i];
    if (code === 0) {
      out.set(id, null);
      return;
    }
    const cancelled = code === errors.CODES.BB_ERR_CANCELLED;
    const reason = reasons[i] || (cancelled ? 'not downloaded: the batch was cancelled' : lib().bb_code_name(code) || 'BB_UNKNOWN_CODE');
    const e = makeError(code, 0, reason);
    if (cancelled && signal && signal.aborted && e.cause === undefined) {
      Object.defineProperty(e, 'cause', { value: signal.reason, writable: true, configurable: true });
    }
    out.set(id, e);
  });
  return out;
}

function waitArgs(sessionId, opts) {
  const timeout = opts.timeout === undefined ? 60000 : opts.timeout;
  return {
    apiKey: text('apiKey', opts.apiKey, true),
    id: text('sessionId', sessionId),
    timeout: ms('timeout', timeout, { allowZero: true, infinityMeansMax: true }),
    flags: opts.stable ? BB_WAIT_STABLE : 0,
  };
}

// ---------------------------------------------------------------------------
// Sinks of a streamed download
// ---------------------------------------------------------------------------

function isWritable(sink) {
  return sink !== null && typeof sink === 'object' && typeof sink.write === 'function' && typeof sink.once === 'function';
}

/** The 'chunk' handler for a sink: a function taking a Buffer (may return a
 *  promise; false cancels), or a Writable (backpressure honoured; an 'error'
 *  event stops the download). */
function chunkHandler(sink) {
  if (isWritable(sink)) {
    return async (msg) => {
      if (sink.errored) throw sink.errored;
      if (sink.destroyed || sink.writableEnded) throw new CancelledError('the stream was closed during the download');
      const chunk = Buffer.from(msg.chunk.buffer, msg.chunk.byteOffset, msg.chunk.byteLength);
      if (sink.write(chunk)) return true;
      await new Promise((resolve, reject) => {
        const done = (err) => {
          sink.off('drain', onDrain);
          sink.off('error', done);
          sink.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = () => done();
        const onClose = () => done(sink.errored || new CancelledError('the stream was closed during the download'));
        sink.once('drain', onDrain);
        sink.once('error', done);
        sink.once('close', onClose);
      });
      return true;
    };
  }
  if (typeof sink === 'function') {
    return async (msg) => {
      const chunk = Buffer.from(msg.chunk.buffer, msg.chunk.byteOffset, msg.chunk.byteLength);
      return (await sink(chunk)) !== false;
    };
  }
  throw new TypeError('sink must be a function or a Writable stream');
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

let nextClientKey = 1;
const clientRegistry = new FinalizationRegistry((key) => pool.freeClient(key));

const BUILDER_STEPS = [
  ['baseUrl', 'bb_client_builder_set_base_url', (v) => text('baseUrl', v)],
  ['apiKey', 'bb_client_builder_set_api_key', (v) => text('apiKey', v)],
  ['connectTimeout', 'bb_client_builder_set_connect_timeout_ms', (v) => ms('connectTimeout', v, { allowZero: false })],
  ['timeout', 'bb_client_builder_set_timeout_ms', (v) => ms('timeout', v, { allowZero: false })],
  ['deadline', 'bb_client_builder_set_deadline_ms', (v) => ms('deadline', v, { allowZero: true })],
  ['maxRetries', 'bb_client_builder_set_max_retries', (v) => uint('maxRetries', v, UINT32_MAX)],
  ['userAgentSuffix', 'bb_client_builder_set_user_agent_suffix', (v) => text('userAgentSuffix', v)],
  ['proxy', 'bb_client_builder_set_proxy', (v) => text('proxy', v)],
  ['fsync', 'bb_client_builder_set_fsync', (v) => (v ? 1 : 0)],
  ['resume', 'bb_client_builder_set_resume', (v) => (v ? 1 : 0)],
];
const CLIENT_OPTIONS = new Set([...BUILDER_STEPS.map((s) => s[0]), 'caFile', 'progress', 'loadEnv']);

/**
 * A configured client. Every option is optional; durations in milliseconds.
 * Settings are checked here (InvalidArgumentError); the client is then used
 * from the package's worker threads, each with a C client of its own built
 * from these settings.
 */
class Client {
  constructor(opts) {
    opts = options(opts);
    for (const k of Object.keys(opts)) {
      if (!CLIENT_OPTIONS.has(k)) throw new InvalidArgumentError(`unknown Client option ${k}`);
    }
    const steps = [];
    for (const [key, fn, convert] of BUILDER_STEPS) {
      if (opts[key] !== undefined && opts[key] !== null) steps.push([fn, convert(opts[key])]);
    }
    if (opts.caFile !== undefined && opts.caFile !== null) {
      for (const f of Array.isArray(opts.caFile) ? opts.caFile : [opts.caFile]) {
        steps.push(['bb_client_builder_add_ca_file', pathArg('caFile', f)]);
      }
    }
    if (opts.progress !== undefined && opts.progress !== null && typeof opts.progress !== 'function') {
      throw new TypeError('progress must be a function');
    }
    this._progress = opts.progress || null;
    this._spec = { loadEnv: opts.loadEnv !== false, steps, progress: this._progress !== null };
    // Build one C client now, to report a bad setting here rather than at the first call.
    const fns = lib();
    const builder = fns.bb_client_builder_new();
    try {
      const err = [null];
      if (this._spec.loadEnv) check(fns, fns.bb_client_builder_load_env(builder, err), err);
      for (const [fn, value] of steps) check(fns, fns[fn](builder, value, err), err);
      const out = [null];
      check(fns, fns.bb_client_new(builder, out, err), err);
      fns.bb_client_free(out[0]);
    } finally {
      fns.bb_client_builder_free(builder);
    }
    this._key = nextClientKey++;
    this._users = 0;
    this._closing = false;
    this._freed = false;
    clientRegistry.register(this, this._key, this);
  }

  /** True once close() was called. */
  get closed() {
    return this._closing;
  }

  /** Frees the client's C objects once the calls still using it are done. Twice is fine. */
  close() {
    if (this._closing) return;
    this._closing = true;
    clientRegistry.unregister(this);
    if (this._users === 0) this._free();
  }

  _free() {
    if (this._freed) return;
    this._freed = true;
    pool.freeClient(this._key);
  }

  async _run(fn, kind, args, signal, handlers = {}, extra = {}) {
    if (this._closing) throw new InvalidArgumentError('this client is closed');
    signal = checkSignal(signal);
    if (this._progress) {
      const progress = this._progress;
      handlers.progress = async (msg) => (await progress(msg.received, msg.total)) !== false;
    }
    this._users++;
    try {
      return await runAbortable({ fn, kind, args, client: { key: this._key, spec: this._spec }, ...extra }, handlers, signal);
    } finally {
      this._users--;
      if (this._closing && this._users === 0) this._free();
    }
  }

  /** Downloads the session's archive to the file `path`, atomically. */
  async download(sessionId, path, opts) {
    opts = options(opts);
    const args = [text('apiKey', opts.apiKey, true), text('sessionId', sessionId), pathArg('path', path)];
    await this._run('bb_client_download_opts', 'plain', args, opts.signal);
  }

  /** Downloads the session's archive into a Buffer. */
  async downloadBuffer(sessionId, opts) {
    opts = options(opts);
    const args = [text('apiKey', opts.apiKey, true), text('sessionId', sessionId)];
    return toBuffer(await this._run('bb_client_download_to_buffer_opts', 'buffer', args, opts.signal));
  }

  /** Streams the session's archive to `sink`; resolves to the number of bytes. */
  async downloadTo(sessionId, sink, opts) {
    opts = options(opts);
    const chunk = chunkHandler(sink);
    const args = [text('apiKey', opts.apiKey, true), text('sessionId', sessionId)];
    return this._run('bb_client_download_to_callback_opts', 'stream', args, opts.signal, { chunk });
  }

  /**
   * Downloads every session of `sessionIds` to `<dir>/<name>.zip` (see the
   * README), at most `concurrency` at once; resolves to { id: null or the
   * typed error of that session }. Rejects only when the call is refused as
   * a whole (nothing sent) or aborted before it started.
   */
  async downloadSessions(sessionIds, dir, opts) {
    opts = options(opts);
    const b = batchArgs(sessionIds, dir, opts);
    const raw = await this._run('bb_client_download_sessions_opts', 'batch', b.args, opts.signal, b.handlers, { onProgress: b.onProgress });
    return batchResults(b.ids, raw, opts.signal);
  }

  /** Polls until the session's archive holds a file, then writes it to `path`. */
  async waitForDownloads(sessionId, path, opts) {
    opts = options(opts);
    const w = waitArgs(sessionId, opts);
    const args = [w.apiKey, w.id, w.timeout, w.flags, pathArg('path', path)];
    await this._run('bb_client_wait_for_downloads_opts', 'plain', args, opts.signal);
  }

  /** As waitForDownloads, resolving to the archive in a Buffer. */
  async waitForDownloadsBuffer(sessionId, opts) {
    opts = options(opts);
    const w = waitArgs(sessionId, opts);
    const args = [w.apiKey, w.id, w.timeout, w.flags];
    return toBuffer(await this._run('bb_client_wait_for_downloads_to_buffer_opts', 'buffer', args, opts.signal));
  }

  /** Waits for the session's files, then extracts them safely into `dir`. */
  async extractDownloads(sessionId, dir, opts) {
    opts = options(opts);
    const w = waitArgs(sessionId, opts);
    const args = [w.apiKey, w.id, w.timeout, w.flags, pathArg('dir', dir)];
    await this._run('bb_client_extract_downloads_opts', 'plain', args, opts.signal);
  }
}

function toBuffer(u8) {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

// ---------------------------------------------------------------------------
// The library's process-wide default client (BROWSERBASE_* variables, read
// once when first used).
// ---------------------------------------------------------------------------

async function runDefault(fn, kind, args, signal, handlers = {}, extra = {}) {
  signal = checkSignal(signal);
  lib();
  return runAbortable({ fn, kind, args, defaultClient: /^bb_client_.*_opts$/.test(fn), ...extra }, handlers, signal);
}

/** As Client#downloadSessions, with the library's process-wide client. */
async function downloadSessions(sessionIds, dir, opts) {
  opts = options(opts);
  const b = batchArgs(sessionIds, dir, opts);
  const raw = await runDefault('bb_client_download_sessions_opts', 'batch', b.args, opts.signal, b.handlers, { onProgress: b.onProgress });
  return batchResults(b.ids, raw, opts.signal);
}

let envClient = null;
function stableClient() {
  // The default client takes no wait flags; `stable` goes through a client
  // built the same way (from the environment), made once.
  if (!envClient) envClient = new Client();
  return envClient;
}

async function download(sessionId, path, opts) {
  opts = options(opts);
  const args = [text('apiKey', opts.apiKey, true), text('sessionId', sessionId), pathArg('path', path)];
  await runDefault('bb_client_download_opts', 'plain', args, opts.signal);
}

async function downloadBuffer(sessionId, opts) {
  opts = options(opts);
  const args = [text('apiKey', opts.apiKey, true), text('sessionId', sessionId)];
  return toBuffer(await runDefault('bb_client_download_to_buffer_opts', 'buffer', args, opts.signal));
}

async function downloadTo(sessionId, sink, opts) {
  opts = options(opts);
  const chunk = chunkHandler(sink);
  const args = [text('apiKey', opts.apiKey, true), text('sessionId', sessionId)];
  return runDefault('bb_client_download_to_callback_opts', 'stream', args, opts.signal, { chunk });
}

async function waitForDownloads(sessionId, path, opts) {
  opts = options(opts);
  if (opts.stable) return stableClient().waitForDownloads(sessionId, path, opts);
  const w = waitArgs(sessionId, opts);
  await runDefault('bb_client_wait_for_downloads_opts', 'plain', [w.apiKey, w.id, w.timeout, 0, pathArg('path', path)], opts.signal);
}

async function waitForDownloadsBuffer(sessionId, opts) {
  opts = options(opts);
  if (opts.stable) return stableClient().waitForDownloadsBuffer(sessionId, opts);
  const w = waitArgs(sessionId, opts);
  return toBuffer(await runDefault('bb_client_wait_for_downloads_to_buffer_opts', 'buffer', [w.apiKey, w.id, w.timeout, 0], opts.signal));
}

async function extractDownloads(sessionId, dir, opts) {
  opts = options(opts);
  if (opts.stable) return stableClient().extractDownloads(sessionId, dir, opts);
  const w = waitArgs(sessionId, opts);
  await runDefault('bb_client_extract_downloads_opts', 'plain', [w.apiKey, w.id, w.timeout, 0, pathArg('dir', dir)], opts.signal);
}

/** Extracts the archive file at `zipPath` safely into `dir`, default limits. */
async function extract(zipPath, dir, opts) {
  opts = options(opts);
  pathArg('zipPath', zipPath); // both refused before anything is opened
  pathArg('dir', dir);
  checkSignal(opts.signal);
  const archive = await Archive.openFile(zipPath);
  try {
    await archive.extractTo(dir, opts);
  } finally {
    archive.close();
  }
}

function version() {
  return lib().bb_version();
}

function libraryPath() {
  lib();
  return loaded.path;
}

// ---------------------------------------------------------------------------
// Archives
// ---------------------------------------------------------------------------

const archiveRegistry = new FinalizationRegistry((ptr) => {
  if (loaded) loaded.fns.bb_archive_free(ptr);
});

function entryOf(raw) {
  const mtime = raw.mtimeUnix >= 0 ? new Date(raw.mtimeUnix * 1000) : null;
  const downloadTime = raw.downloadTimeMs >= 0 ? new Date(raw.downloadTimeMs) : null;
  return Object.freeze({
    name: raw.name,
    originalName: raw.originalName,
    size: raw.size,
    mtime: mtime && !Number.isNaN(mtime.getTime()) ? mtime : null,
    downloadTime: downloadTime && !Number.isNaN(downloadTime.getTime()) ? downloadTime : null,
    isDir: raw.name.endsWith('/'),
  });
}

/** An opened ZIP archive: its entries, and safe extraction. Close it when done. */
class Archive {
  constructor(token, opened) {
    if (token !== Archive._token) throw new TypeError('use Archive.open, Archive.openFile or Archive.fromBuffer');
    this._ptr = opened.ptr;
    this._users = 0;
    this._closing = false;
    /** The entries, in the archive's order; still readable after close(). */
    this.entries = Object.freeze(opened.entries.map(entryOf));
    archiveRegistry.register(this, this._ptr, this);
  }

  /** From a path (string or file: URL) or from the archive's bytes (Buffer, Uint8Array). */
  static async open(source) {
    if (source instanceof Uint8Array || source instanceof ArrayBuffer) return Archive.fromBuffer(source);
    return Archive.openFile(source);
  }

  /** The archive in the file at `path` (a Buffer is a path here). */
  static async openFile(path) {
    const args = [pathArg('path', path)];
    return new Archive(Archive._token, await runDefault('bb_archive_open_file', 'archive', args, null));
  }

  /** The archive held in `data` (copied). */
  static async fromBuffer(data) {
    let bytes;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (data instanceof Uint8Array) bytes = data;
    else throw new TypeError('data must be a Buffer, Uint8Array or ArrayBuffer');
    const copy = new Uint8Array(bytes); // the worker gets a copy of its own
    return new Archive(Archive._token, await runDefault('bb_archive_open_buffer', 'archive', [copy, copy.length], null));
  }

  get length() {
    return this.entries.length;
  }

  [Symbol.iterator]() {
    return this.entries[Symbol.iterator]();
  }

  get closed() {
    return this._closing;
  }

  /** Changes the zip-bomb limits extractTo enforces (0 restores a default). */
  setLimits({ maxTotalBytes, maxRatio } = {}) {
    if (this._closing) throw new InvalidArgumentError('this archive is closed');
    this._limits = this._limits || [0n, 0];
    let [total, ratio] = this._limits;
    if (maxTotalBytes !== undefined) {
      total = BigInt(typeof maxTotalBytes === 'bigint' ? maxTotalBytes : uint('maxTotalBytes', maxTotalBytes, Number.MAX_SAFE_INTEGER));
      if (total < 0n || total > UINT64_MAX) throw new InvalidArgumentError('maxTotalBytes out of range');
    }
    if (maxRatio !== undefined) ratio = uint('maxRatio', maxRatio, UINT32_MAX);
    const fns = lib();
    const err = [null];
    check(fns, fns.bb_archive_set_limits(this._ptr, total, ratio, err), err);
    this._limits = [total, ratio];
  }

  /** Extracts every entry into `dir` (created if missing), safely. */
  async extractTo(dir, opts) {
    opts = options(opts);
    const args = [pathArg('dir', dir)];
    if (this._closing) throw new InvalidArgumentError('this archive is closed');
    this._users++;
    try {
      await runDefault('bb_archive_extract_to_opts', 'plain', [this._ptr, ...args], opts.signal);
    } finally {
      this._users--;
      if (this._closing && this._users === 0) this._free();
    }
  }

  /** Frees the archive (after a running extraction). Twice is fine. */
  close() {
    if (this._closing) return;
    this._closing = true;
    archiveRegistry.unregister(this);
    if (this._users === 0) this._free();
  }

  _free() {
    if (this._ptr === null) return;
    const ptr = this._ptr;
    this._ptr = null;
    lib().bb_archive_free(ptr);
  }
}
Archive._token = Symbol('Archive');

module.exports = {
  download,
  downloadBuffer,
  downloadTo,
  downloadSessions,
  waitForDownloads,
  waitForDownloadsBuffer,
  extractDownloads,
  extract,
  version,
  libraryPath,
  configure: pool.configure,
  setLogHandler: log.setLogHandler,
  Client,
  Archive,
  ...Object.fromEntries(Object.entries(errors).filter(([k]) => /Error$/.test(k))),
  CODES: errors.CODES,
};
