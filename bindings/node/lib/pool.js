'use strict';
// The package's own worker threads, which make the library's blocking calls.
//
// Why not koffi's async calls: they run on libuv's shared thread pool (4
// threads unless UV_THREADPOOL_SIZE says otherwise, fixed once the first
// user starts it), which fs, dns.lookup, zlib and crypto also need; a few
// downloads stalled on a slow server would hold all of it, and every
// fs.promises call of the program would wait behind them. Our own threads
// cost ~1 MB and a few ms each to start, are started only when all existing
// ones are busy, are kept when idle (unref'd: they never keep the process
// alive); at most `maxThreads` (default 16; configure()) calls run at once,
// the others wait in a queue.

const path = require('path');
const { Worker } = require('worker_threads');
const { makeError, InternalError } = require('./errors');

let maxThreads = 16;
const idle = []; // most recently used last: sequential calls reuse one thread (and its connections)
const all = new Set();
const queue = [];
let nextId = 1;
let libraryPath = null;

function configure(options) {
  if (options && options.maxThreads !== undefined) {
    const n = options.maxThreads;
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new RangeError('maxThreads must be an integer from 1 to 1024');
    maxThreads = n;
    pump();
  }
}

function setLibrary(file) {
  libraryPath = file;
}

function spawn() {
  const sab = new SharedArrayBuffer(8);
  const worker = new Worker(path.join(__dirname, 'worker.js'), {
    workerData: { library: libraryPath, sync: sab },
  });
  const slot = { worker, sync: new Int32Array(sab), call: null, dead: false };
  worker.on('message', (msg) => onMessage(slot, msg));
  const die = (why) => {
    if (slot.dead) return;
    slot.dead = true;
    all.delete(slot);
    const i = idle.indexOf(slot);
    if (i >= 0) idle.splice(i, 1);
    const call = slot.call;
    slot.call = null;
    if (call) call.reject(new InternalError(`browserbase-c worker thread ended: ${why}`));
    pump();
  };
  worker.on('error', (e) => die(e && e.message));
  worker.on('exit', (code) => die(`exit code ${code}`));
  all.add(slot);
  return slot;
}

function answer(slot, value) {
  Atomics.store(slot.sync, 1, value);
  Atomics.store(slot.sync, 0, 1);
  Atomics.notify(slot.sync, 0);
}

function onMessage(slot, msg) {
  const call = slot.call;
  if (msg.type === 'ask') {
    if (!call || call.id !== msg.id) {
      answer(slot, 1);
      return;
    }
    handleAsk(call, msg).then(
      (v) => answer(slot, v),
      () => answer(slot, 1),
    );
    return;
  }
  if (!call || call.id !== msg.id) return;
  slot.call = null;
  release(slot);
  if (call.raised !== undefined) call.reject(call.raised);
  else if (msg.type === 'done') call.resolve(msg.value);
  else call.reject(makeError(msg.error.code, msg.error.status, msg.error.message));
}

/** 0 to go on, 1 to stop. A handler that throws (or rejects) stops the call,
 *  and its error is what the call's promise rejects with. */
async function handleAsk(call, msg) {
  if (call.raised !== undefined) return 1;
  try {
    // A batch under way is ended by its cancel handle and resolves with
    // each session's result; only a queued one is rejected on abort.
    const stop = call.shouldStop && call.message.kind !== 'batch' && call.shouldStop();
    if (stop) {
      call.raised = stop;
      return 1;
    }
    const handler = call.handlers[msg.what];
    if (!handler) return 0;
    const verdict = await handler(msg);
    return verdict === false ? 2 : 0;
  } catch (e) {
    call.raised = e;
    return 1;
  }
}

function release(slot) {
  if (slot.dead) return;
  slot.worker.unref();
  idle.push(slot);
  pump();
}

function pump() {
  while (queue.length) {
    if (all.size - idle.length >= maxThreads) return; // that many calls run already
    const slot = idle.pop() || spawn();
    const call = queue.shift();
    slot.call = call;
    slot.worker.ref();
    slot.worker.postMessage(call.message);
  }
}

/**
 * Runs `message` (see worker.js) on a thread of the pool. `handlers` answer
 * the thread's questions ('chunk', 'progress'); `shouldStop()` returning an
 * error stops the call at its next question and rejects with that error.
 */
function run(message, handlers = {}, shouldStop = null, signal = null) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    const call = { id, message: { ...message, id }, handlers, shouldStop, resolve, reject, raised: undefined };
    queue.push(call);
    if (signal) {
      // Aborted while still waiting for a thread: leave the queue at once
      // (once running, the call's cancel handle stops it).
      const onAbort = () => {
        const i = queue.indexOf(call);
        if (i >= 0) {
          queue.splice(i, 1);
          reject(shouldStop());
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const off = () => signal.removeEventListener('abort', onAbort);
      call.resolve = (v) => {
        off();
        resolve(v);
      };
      call.reject = (e) => {
        off();
        reject(e);
      };
    }
    pump();
  });
}

/** Tells every thread to free its C client for `key` (after its current call). */
function freeClient(key) {
  for (const slot of all) slot.worker.postMessage({ op: 'freeClient', key });
}

function stats() {
  return { threads: all.size, idle: idle.length, queued: queue.length, maxThreads };
}

module.exports = { run, configure, setLibrary, freeClient, stats };
