'use strict';
// The library's log lines, routed to a JS function (internal; see
// setLogHandler in index.js). Main thread only.
//
// The library calls the log callback on whichever thread logs: mostly the
// package's worker threads, in the middle of a blocking call. koffi queues
// such a call to the main thread's event loop and blocks the worker until
// the handler has run there. So the setter must never wait for a running
// call (the event loop would wait for itself): bb_set_log_callback_v2
// swaps at once, and tells us through `destroy` when the replaced
// callback's last call has returned; only then is its koffi callback
// unregistered (a queued call to an unregistered callback would crash).

const { load, takeError, koffi } = require('./native');
const { makeError, InvalidArgumentError } = require('./errors');

const LEVELS = { off: 0, error: 1, warn: 2, info: 3, debug: 4 };
const NAMES = ['off', 'error', 'warn', 'info', 'debug'];

const live = new Map(); // id -> registered koffi callback, until destroyed
let nextId = 1;
let destroy = null; // registered once, never unregistered

function onDestroy(user) {
  const id = Number(user);
  const registered = live.get(id);
  live.delete(id);
  if (registered) koffi.unregister(registered);
}

function setLogHandler(fn, level = 'info') {
  if (fn !== null && fn !== undefined && typeof fn !== 'function') {
    throw new TypeError(`the log handler must be a function or null, not ${typeof fn}`);
  }
  if (!Object.prototype.hasOwnProperty.call(LEVELS, level)) {
    throw new InvalidArgumentError(`level must be one of ${Object.keys(LEVELS).join(', ')}, not ${String(level)}`);
  }
  const { fns, types } = load();
  if (!destroy) destroy = koffi.register(onDestroy, koffi.pointer(types.destroy));
  const err = [null];
  let rc;
  if (fn === null || fn === undefined) {
    // NULL with a level: stderr at BROWSERBASE_LOG's level; with 'off': silence.
    rc = fns.bb_set_log_callback_v2(null, 0, null, level === 'off' ? 0 : 1, err);
  } else {
    const id = nextId++;
    const registered = koffi.register((_user, lvl, message) => {
      try {
        fn(NAMES[lvl] || String(lvl), message);
      } catch (e) {
        // A log line never fails a call; the error is not lost either.
        process.emitWarning(`browserbase-c log handler threw: ${e && e.stack ? e.stack : e}`);
      }
    }, koffi.pointer(types.log));
    live.set(id, registered);
    rc = fns.bb_set_log_callback_v2(registered, id, destroy, LEVELS[level], err);
    if (rc !== 0) {
      live.delete(id);
      koffi.unregister(registered);
    }
  }
  if (rc !== 0) {
    const e = takeError(fns, rc, err[0]);
    throw makeError(e.code, e.status, e.message);
  }
}

/** For tests: handlers installed or replaced but not yet released. */
function liveHandlers() {
  return live.size;
}

module.exports = { setLogHandler, liveHandlers };
