'use strict';
// A worker thread of the package's own pool (see pool.js): it makes the
// library's blocking calls, one at a time, so that neither the event loop nor
// libuv's shared thread pool waits for a download.
//
// The library calls its callbacks (chunks, progress) on the thread that
// called it: this one. Each callback asks the main thread, where the user's
// function lives, and blocks on a shared Int32Array until it answers (0: go
// on, anything else: stop). That keeps the library's contract (a callback
// returns only once the chunk was handled) and gives backpressure for free.

const { parentPort, workerData } = require('worker_threads');
const { load, takeError, koffi } = require('./native');

const { fns, types } = load(workerData.library);
// sync[0]: 0 while a question is open, 1 once answered; sync[1]: the answer.
const sync = new Int32Array(workerData.sync);
let currentId = 0;

function ask(what, payload, transfer) {
  Atomics.store(sync, 0, 0);
  parentPort.postMessage({ type: 'ask', id: currentId, what, ...payload }, transfer || []);
  Atomics.wait(sync, 0, 0);
  return Atomics.load(sync, 1);
}

function copyOut(ptr, len) {
  const copy = new Uint8Array(len);
  if (len > 0) copy.set(new Uint8Array(koffi.view(ptr, len)));
  return copy;
}

// ---------------------------------------------------------------------------
// This worker's C clients: one per JS Client that used it, built from the
// Client's settings. Per worker, because a progress callback registered by
// one thread's koffi must be called on that thread (koffi would queue a call
// from another thread to this one's event loop, which is blocked in the C
// call: a deadlock).
// ---------------------------------------------------------------------------

const clients = new Map(); // key -> { ptr, progress (registered callback) }

function check(rc, err) {
  if (rc !== 0) {
    const e = takeError(fns, rc, err[0]);
    throw Object.assign(new Error(e.message), { bb: e });
  }
}

function clientFor(key, spec) {
  const known = clients.get(key);
  if (known) return known.ptr;
  let progress = null;
  const builder = fns.bb_client_builder_new();
  try {
    const err = [null];
    if (spec.loadEnv) check(fns.bb_client_builder_load_env(builder, err), err);
    for (const [fn, value] of spec.steps) check(fns[fn](builder, value, err), err);
    if (spec.progress) {
      progress = koffi.register(
        (_user, received, total) =>
          ask('progress', { received: Number(received), total: total < 0 ? null : Number(total) }),
        koffi.pointer(types.progress),
      );
      check(fns.bb_client_builder_set_progress(builder, progress, null, err), err);
    }
    const out = [null];
    check(fns.bb_client_new(builder, out, err), err);
    clients.set(key, { ptr: out[0], progress });
    progress = null;
    return out[0];
  } finally {
    fns.bb_client_builder_free(builder);
    if (progress) koffi.unregister(progress);
  }
}

function freeClient(key) {
  const known = clients.get(key);
  if (!known) return;
  clients.delete(key);
  fns.bb_client_free(known.ptr);
  if (known.progress) koffi.unregister(known.progress);
}

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

function readEntries(archive) {
  const count = Number(fns.bb_archive_entry_count(archive));
  const entries = [];
  for (let i = 0; i < count; i++) {
    const raw = { struct_size: koffi.sizeof(types.entry) };
    const err = [null];
    check(fns.bb_archive_entry_at(archive, i, raw, err), err);
    entries.push({
      name: raw.name || '',
      originalName: raw.original_name || '',
      size: Number(raw.size),
      mtimeUnix: Number(raw.mtime_unix),
      downloadTimeMs: Number(raw.download_time_ms),
    });
  }
  return entries;
}

function run(msg) {
  const args = msg.args.slice();
  if (msg.client) args.unshift(clientFor(msg.client.key, msg.client.spec));
  else if (msg.defaultClient) args.unshift(null); // an _opts call of the process-wide client
  // The call's cancel handle (created, triggered on abort and freed by the
  // main thread), for the _opts calls; null: not cancellable.
  const options = msg.cancel
    ? { struct_size: koffi.sizeof(types.options), cancel: msg.cancel, progress: 0, progress_user_data: 0, batch_progress: 0, batch_progress_user_data: 0 }
    : null;
  if (msg.kind === 'batch') return runBatch(msg, args, options);
  const fn = fns[msg.fn];
  const err = [null];
  switch (msg.kind) {
    case 'plain':
      check(fn(...args, options, err), err);
      return { value: undefined };
    case 'buffer': {
      const data = [null];
      const len = [0];
      check(fn(...args, data, len, options, err), err);
      const n = Number(len[0]);
      try {
        const copy = copyOut(data[0], n);
        return { value: copy, transfer: [copy.buffer] };
      } finally {
        fns.bb_buffer_free(data[0], n);
      }
    }
    case 'stream': {
      let total = 0;
      const write = (_user, data, len) => {
        const n = Number(len);
        total += n;
        const chunk = copyOut(data, n);
        return ask('chunk', { chunk }, [chunk.buffer]);
      };
      check(fn(...args, write, null, options, err), err);
      return { value: total };
    }
    case 'archive': {
      const out = [null];
      check(fn(...args, out, err), err);
      try {
        return { value: { ptr: out[0], entries: readEntries(out[0]) } };
      } catch (e) {
        fns.bb_archive_free(out[0]);
        throw e;
      }
    }
    default:
      throw new Error(`unknown call kind ${msg.kind}`);
  }
}

// Many sessions: args [apiKey, ids (byte arrays), dir, concurrency]. The
// batch progress callback, registered on this thread (the library calls it
// on the calling thread, this one), keeps each failed session's reason from
// its end report and, when the caller gave onProgress, asks the main thread
// (blocking here until it answers, as for chunks). Resolves to
// { codes, reasons }; throws only when the call was refused as a whole.
function runBatch(msg, args, options) {
  const [client, apiKey, ids, dir, concurrency] = args; // client null: the default one
  const count = ids.length;
  const codes = new Int32Array(count);
  const reasons = {};
  const batch = koffi.register((_user, ptr) => {
    const p = koffi.decode(ptr, types.batchProgress);
    const index = Number(p.index);
    if (p.finished && p.code !== 0 && p.message) reasons[index] = p.message;
    if (!msg.onProgress) return 0;
    return ask('batchProgress', {
      progress: {
        index,
        sessionId: p.session_id,
        received: Number(p.received),
        total: p.total < 0 ? null : Number(p.total),
        finished: p.finished !== 0,
        code: p.code,
        succeeded: Number(p.succeeded),
        failed: Number(p.failed),
        count: Number(p.count),
        batchReceived: Number(p.batch_received),
      },
    });
  }, koffi.pointer(types.batchCallback));
  try {
    const opts = { struct_size: koffi.sizeof(types.options), cancel: options ? options.cancel : 0, progress: 0, progress_user_data: 0, batch_progress: koffi.address(batch), batch_progress_user_data: 0 };
    const err = [null];
    const rc = fns.bb_client_download_sessions_opts(client, apiKey, ids, count, dir, concurrency, opts, codes, err);
    if (rc !== 0 && codes.every((c) => c === 0)) check(rc, err); // refused: no session ran
    if (err[0]) fns.bb_error_free(err[0]);
    return { value: { codes, reasons }, transfer: [codes.buffer] };
  } finally {
    koffi.unregister(batch);
  }
}

parentPort.on('message', (msg) => {
  if (msg.op === 'freeClient') {
    freeClient(msg.key);
    return;
  }
  currentId = msg.id;
  let reply;
  try {
    const { value, transfer } = run(msg);
    reply = [{ type: 'done', id: msg.id, value }, transfer || []];
  } catch (e) {
    const bb = e && e.bb ? e.bb : { code: 14, status: 0, message: `browserbase-c worker: ${e && e.stack}` };
    reply = [{ type: 'failed', id: msg.id, error: bb }, []];
  }
  currentId = 0;
  parentPort.postMessage(reply[0], reply[1]);
});
