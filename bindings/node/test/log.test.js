'use strict';
// setLogHandler: lines reach a JS function on the main thread, and replacing
// or removing the handler never deadlocks the event loop (issue 16, item 2).
// Each scenario runs in a child process: a deadlocked event loop cannot fire
// a timer, so only another process can notice (and kill) it.

const test = require('node:test');
const assert = require('node:assert');
const { spawn } = require('child_process');
const path = require('path');
const { startServer, DEMO_SESSION } = require('./helpers');

let server;
test.before(async () => {
  server = await startServer();
});
test.after(() => server && server.stop());

/** Runs `script` in a child node with the package's environment; kills it
 *  (and fails) if it has not finished within `limitMs`. */
function runChild(script, limitMs = 30000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, BB_TEST_SESSION: DEMO_SESSION },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let errText = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (errText += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the child hung (deadlock?) for ${limitMs} ms; stdout: ${out} stderr: ${errText}`));
    }, limitMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err: errText });
    });
  });
}

const SCENARIO = `
const bb = require('./index.js');
const log = require('./lib/log.js');
const id = process.env.BB_TEST_SESSION;
(async () => {
  const seen = { a: [], b: [] };
  let mainThread = true;
  // A's first line (logged by a worker thread, inside its C call) replaces
  // A with B from the event loop, while that worker waits for A to return.
  bb.setLogHandler((level, line) => {
    seen.a.push([level, line]);
    bb.setLogHandler((level, line) => {
      seen.b.push([level, line]);
      bb.setLogHandler(null); // removed from inside B, likewise
    }, 'info');
  }, 'info');
  await bb.downloadBuffer(id);
  await bb.downloadBuffer(id);
  await bb.downloadBuffer(id);
  // Both replaced callbacks were released (after their last calls).
  console.log(JSON.stringify({ a: seen.a, b: seen.b, live: log.liveHandlers() }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('replacing the log handler from the event loop while a worker is inside it does not deadlock', async () => {
  const r = await runChild(SCENARIO);
  assert.strictEqual(r.code, 0, `exit ${r.code} ${r.signal}\n${r.out}\n${r.err}`);
  const got = JSON.parse(r.out.trim().split('\n').pop());
  assert.strictEqual(got.a.length, 1, r.out);
  assert.strictEqual(got.b.length, 1, r.out);
  for (const [level, line] of [...got.a, ...got.b]) {
    assert.strictEqual(level, 'info');
    assert.match(line, /^GET \/v1\/sessions\/.+ -> 200/);
    assert.ok(!line.includes('bb_test_key'), line);
  }
  assert.strictEqual(got.live, 0, 'a replaced handler was never released');
  assert.strictEqual(r.err, '', 'nothing on stderr once the handler was removed');
});

test('setLogHandler: levels, removal, a handler that throws, bad input', async () => {
  const r = await runChild(`
const bb = require('./index.js');
const log = require('./lib/log.js');
const id = process.env.BB_TEST_SESSION;
(async () => {
  const out = {};
  const lines = [];
  bb.setLogHandler((level, line) => lines.push(level), 'error');
  await bb.downloadBuffer(id);
  out.errorOnly = lines.length; // a good download logs at info only
  bb.setLogHandler((level, line) => lines.push(level), 'debug');
  await bb.downloadBuffer(id);
  out.debug = lines.length > 0;
  bb.setLogHandler(() => { throw new Error('handler boom'); }, 'info');
  const warnings = [];
  process.on('warning', (w) => warnings.push(w.message));
  const data = await bb.downloadBuffer(id); // not failed by the handler
  await new Promise((r) => setImmediate(r));
  out.throwing = data.length > 0 && warnings.some((w) => w.includes('handler boom'));
  bb.setLogHandler(null, 'off');
  const before = lines.length;
  await bb.downloadBuffer(id);
  out.removed = lines.length === before;
  for (const bad of [[42], [() => {}, 'loud'], [() => {}, 3]]) {
    try { bb.setLogHandler(...bad); out['bad ' + String(bad[1])] = 'accepted'; }
    catch (e) { out['bad ' + String(bad[1])] = e.name; }
  }
  out.live = log.liveHandlers();
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`);
  assert.strictEqual(r.code, 0, `exit ${r.code} ${r.signal}\n${r.out}\n${r.err}`);
  const got = JSON.parse(r.out.trim().split('\n').pop());
  assert.deepStrictEqual(got, {
    errorOnly: 0,
    debug: true,
    throwing: true,
    removed: true,
    'bad undefined': 'TypeError',
    'bad loud': 'InvalidArgumentError',
    'bad 3': 'InvalidArgumentError',
    live: 0,
  });
});
