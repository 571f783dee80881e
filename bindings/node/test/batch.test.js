'use strict';
// Many sessions in one call (downloadSessions) and the resume switch, against
// the real library and the stand-in server.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const h = require('./helpers');

let server;
let bb;
const uncaught = [];
process.on('uncaughtException', (e) => uncaught.push(e));
process.on('unhandledRejection', (e) => uncaught.push(e));

test.before(async () => {
  server = await h.startServer();
  bb = require('..');
});
test.after(() => {
  server.stop();
  assert.deepEqual(uncaught, [], 'no uncaught exception or unhandled rejection');
});

/** n sessions `<prefix><i>`, each with one file `<prefix><i>.txt`. */
async function sessions(prefix, n) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}${i}`;
    await server.putFile(id, `${id}.txt`, id);
    ids.push(id);
  }
  return ids;
}

async function entryNames(file) {
  const archive = await bb.Archive.openFile(file);
  try {
    return archive.entries.map((e) => e.name);
  } finally {
    archive.close();
  }
}

test('downloadSessions: every session to <dir>/<id>.zip, a Map of nulls (client and default client)', async (t) => {
  const ids = await sessions('nok', 6);
  for (const [name, call] of [
    ['default client', (dir) => bb.downloadSessions(ids, dir, { concurrency: 3 })],
    ['Client', (dir) => {
      const client = new bb.Client();
      return client.downloadSessions(ids, dir, { concurrency: 2 }).finally(() => client.close());
    }],
  ]) {
    const dir = h.scratch(t);
    const results = await call(dir);
    assert.ok(results instanceof Map, name);
    assert.deepEqual([...results.keys()], ids, name);
    assert.deepEqual([...results.values()], ids.map(() => null), name);
    assert.deepEqual(h.leftovers(dir), ids.map((id) => `${id}.zip`).sort(), name);
    for (const id of ids) {
      const names = await entryNames(path.join(dir, `${id}.zip`));
      assert.equal(names.length, 1, name);
      assert.ok(names[0].startsWith(`${id}`) && names[0].endsWith('.txt'), `${name}: ${names}`);
    }
  }
});

test('downloadSessions: one failing id among good ones is its typed error; the others are there', async (t) => {
  const good = await sessions('nfail', 3);
  const ids = [good[0], h.UNKNOWN_SESSION, good[1], good[2]];
  const dir = h.scratch(t);
  const client = new bb.Client();
  try {
    const results = await client.downloadSessions(ids, dir);
    const e = results.get(h.UNKNOWN_SESSION);
    assert.ok(e instanceof bb.NotFoundError, String(e && e.stack));
    assert.equal(e.code, 'BB_ERR_NOT_FOUND');
    assert.match(e.message, /404|not found/i);
    assert.ok(!e.message.includes(h.API_KEY), 'no key in the message');
    for (const id of good) assert.equal(results.get(id), null);
    assert.deepEqual(h.leftovers(dir), good.map((id) => `${id}.zip`).sort());
  } finally {
    client.close();
  }
});

test('downloadSessions: bad input is refused, nothing sent, nothing written', async (t) => {
  const dir = h.scratch(t);
  const notADir = path.join(dir, 'file');
  fs.writeFileSync(notADir, 'x');
  const before = await server.requestCount();
  const client = new bb.Client();
  const bad = [
    [() => bb.downloadSessions(h.DEMO_SESSION, dir), TypeError, /single string/],
    [() => bb.downloadSessions(null, dir), TypeError, /array/],
    [() => bb.downloadSessions([], dir), bb.InvalidArgumentError, /./],
    [() => bb.downloadSessions([h.DEMO_SESSION, ''], dir), bb.InvalidArgumentError, /1/],
    [() => bb.downloadSessions([h.DEMO_SESSION, h.DEMO_SESSION], dir), bb.InvalidArgumentError, /duplicate/i],
    [() => bb.downloadSessions(['a\0b'], dir), bb.InvalidArgumentError, /NUL/],
    [() => bb.downloadSessions([42], dir), TypeError, /sessionIds\[0\]/],
    [() => bb.downloadSessions([h.DEMO_SESSION], path.join(dir, 'missing')), bb.BrowserbaseError, /./],
    [() => bb.downloadSessions([h.DEMO_SESSION], notADir), bb.BrowserbaseError, /./],
    [() => bb.downloadSessions([h.DEMO_SESSION], ''), bb.InvalidArgumentError, /empty/],
    [() => bb.downloadSessions([h.DEMO_SESSION], dir, { concurrency: -1 }), bb.InvalidArgumentError, /concurrency/],
    [() => bb.downloadSessions([h.DEMO_SESSION], dir, { concurrency: 1.5 }), TypeError, /concurrency/],
    [() => bb.downloadSessions([h.DEMO_SESSION], dir, { onProgress: 3 }), TypeError, /onProgress/],
    [() => client.downloadSessions([h.DEMO_SESSION, 'x/'.repeat(200)], dir), bb.InvalidArgumentError, /1/],
  ];
  try {
    for (const [call, Cls, re] of bad) {
      await assert.rejects(call(), (e) => {
        assert.ok(e instanceof Cls && re.test(e.message), `${call}: ${e && e.stack}`);
        return true;
      });
    }
  } finally {
    client.close();
  }
  assert.equal(await server.requestCount(), before, 'nothing was sent');
  assert.deepEqual(h.leftovers(dir), ['file']);
});

test('downloadSessions: an AbortSignal mid-batch, one session stalled, leaves only the finished files', async (t) => {
  const ids = await sessions('nstop', 6);
  await server.script(ids[0], 'stall-body 10 60000');
  const dir = h.scratch(t);
  const fdsBefore = h.openFds();
  const controller = new AbortController();
  const reason = new Error('enough');
  let finished = 0;
  let threeDone;
  const three = new Promise((resolve) => {
    threeDone = resolve;
  });
  const reports = [];
  const pending = bb.downloadSessions(ids, dir, {
    concurrency: 2,
    signal: controller.signal,
    onProgress(p) {
      reports.push(p);
      if (p.finished && p.code === 0 && ++finished === 3) threeDone();
    },
  });
  await three; // three sessions written while the first one stalls
  const aborted = Date.now();
  controller.abort(reason);
  const results = await pending;
  const took = Date.now() - aborted;
  assert.ok(took < 5000, `the batch took ${took} ms after the abort`);
  const first = results.get(ids[0]);
  assert.ok(first instanceof bb.CancelledError, String(first && first.stack));
  assert.equal(first.cause, reason);
  const ok = ids.filter((id) => results.get(id) === null);
  assert.ok(ok.length >= 3, `${ok}`);
  for (const id of ids) {
    const r = results.get(id);
    assert.ok(r === null || r instanceof bb.CancelledError, `${id}: ${r}`);
  }
  assert.deepEqual(h.leftovers(dir), ok.map((id) => `${id}.zip`).sort());
  assert.ok(reports.every((p) => p.count === ids.length && typeof p.sessionId === 'string'));
  assert.ok(reports.some((p) => p.sessionId === ids[0] && !p.finished), 'the stalled session reported');
  await server.script(ids[0], '');
  assert.equal(h.openFds(), fdsBefore, 'a descriptor leaked');
});

test('downloadSessions: aborted while waiting for a thread, or before the call: rejected, nothing sent', async (t) => {
  const dir = h.scratch(t);
  const aborted = new AbortController();
  aborted.abort('early');
  await assert.rejects(bb.downloadSessions([h.DEMO_SESSION], dir, { signal: aborted.signal }), (e) => e instanceof bb.CancelledError && e.cause === 'early');
  bb.configure({ maxThreads: 1 });
  try {
    await server.script(h.DEMO_SESSION, 'stall-headers 60000');
    const before = await server.requestCount();
    const first = new AbortController();
    const busy = bb.downloadBuffer(h.DEMO_SESSION, { signal: first.signal });
    await server.waitForRequests(before + 1);
    const queued = new AbortController();
    const waiting = bb.downloadSessions([h.DEMO_SESSION], dir, { signal: queued.signal });
    queued.abort('queued');
    await assert.rejects(waiting, (e) => e instanceof bb.CancelledError && e.cause === 'queued');
    assert.equal(await server.requestCount(), before + 1, 'the queued batch sent nothing');
    first.abort('first');
    await assert.rejects(busy, (e) => e instanceof bb.CancelledError);
  } finally {
    bb.configure({ maxThreads: 16 });
    await server.script(h.DEMO_SESSION, '');
  }
  assert.deepEqual(h.leftovers(dir), []);
});

test('downloadSessions: onProgress false cancels the batch; a throwing onProgress rejects with its error', async (t) => {
  const ids = await sessions('nprog', 3);
  const dir = h.scratch(t);
  const results = await bb.downloadSessions(ids, dir, { concurrency: 1, onProgress: () => false });
  for (const id of ids) assert.ok(results.get(id) instanceof bb.CancelledError, `${id}`);
  assert.deepEqual(h.leftovers(dir), []);
  const boom = new Error('boom');
  await assert.rejects(
    bb.downloadSessions(ids, dir, {
      onProgress: () => {
        throw boom;
      },
    }),
    (e) => e === boom,
  );
  assert.deepEqual(h.leftovers(dir), []);
  const seen = [];
  const all = await bb.downloadSessions(ids, dir, { onProgress: (p) => seen.push(p) });
  assert.deepEqual([...all.values()], [null, null, null]);
  const ends = seen.filter((p) => p.finished);
  assert.deepEqual(ends.map((p) => p.sessionId).sort(), ids);
  assert.equal(ends.at(-1).succeeded, 3);
  assert.ok(ends.at(-1).batchReceived > 0);
});

test('resume: true continues a cut body with a Range request, false starts over', async (t) => {
  const dir = h.scratch(t);
  const expected = await bb.downloadBuffer(h.DEMO_SESSION);
  assert.throws(() => new bb.Client({ resume: 'maybe', nope: 1 }), bb.InvalidArgumentError);
  for (const resume of [true, false]) {
    const client = new bb.Client({ resume, maxRetries: 2 });
    try {
      await server.script(h.DEMO_SESSION, 'cut 100\nok');
      const before = await server.requestCount();
      const file = path.join(dir, `${resume}.zip`);
      await client.download(h.DEMO_SESSION, file);
      assert.deepEqual(fs.readFileSync(file), expected);
      const log = await server.control('GET', 'requests');
      const retry = log.split(/\n(?=GET )/).slice(before)[1] || '';
      assert.ok(/^GET /.test(retry), `second request: ${retry}`);
      assert.equal(/^range: bytes=100-$/im.test(retry), resume, `resume ${resume}: ${retry}`);
    } finally {
      client.close();
      await server.script(h.DEMO_SESSION, '');
    }
  }
});

test("README's Node batch snippet runs as written", async (t) => {
  const text = fs.readFileSync(path.join(h.REPO, 'README.md'), 'utf8');
  const section = text.slice(text.indexOf('\n## Using it from Node\n'), text.indexOf('\n## Using it from Go\n'));
  const blocks = [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  const block = blocks.find((b) => b.includes('downloadSessions'));
  assert.ok(block, 'no downloadSessions block in the Node section');
  const dir = h.scratch(t);
  fs.writeFileSync(path.join(dir, 'app.js'), block);
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(path.resolve(__dirname, '..'), path.join(dir, 'node_modules', 'browserbase-c'));
  fs.mkdirSync(path.join(dir, 'out'));
  const { spawnSync } = require('child_process');
  const run = spawnSync(process.execPath, ['app.js', 'out', h.DEMO_SESSION, h.UNKNOWN_SESSION], {
    cwd: dir, env: process.env, encoding: 'utf8', timeout: 60000,
  });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, new RegExp(`^${h.DEMO_SESSION} ok$`, 'm'));
  assert.match(run.stdout, new RegExp(`^${h.UNKNOWN_SESSION} BB_ERR_NOT_FOUND: `, 'm'));
  assert.deepEqual(fs.readdirSync(path.join(dir, 'out')), [`${h.DEMO_SESSION}.zip`]);
  const refused = spawnSync(process.execPath, ['app.js', 'missing-dir', h.DEMO_SESSION], {
    cwd: dir, env: process.env, encoding: 'utf8', timeout: 60000,
  });
  assert.equal(refused.status, 1);
});
