'use strict';
// The browserbase-c package against the real library and the stand-in server.
// Run: node --test bindings/node/test/ (after cargo build), or make test-node.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Writable } = require('stream');
const { spawnSync } = require('child_process');
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

async function demoBytes() {
  return bb.downloadBuffer(h.DEMO_SESSION);
}

test('download to a file, a Buffer, a function and a Writable: the same archive', async (t) => {
  const dir = h.scratch(t);
  const file = path.join(dir, 'a.zip');
  await bb.download(h.DEMO_SESSION, file);
  const data = await demoBytes();
  assert.ok(Buffer.isBuffer(data));
  assert.deepEqual(fs.readFileSync(file), data);
  assert.equal(data.subarray(0, 2).toString(), 'PK');

  const chunks = [];
  const n = await bb.downloadTo(h.DEMO_SESSION, (chunk) => {
    assert.ok(Buffer.isBuffer(chunk));
    chunks.push(Buffer.from(chunk));
  });
  assert.equal(n, data.length);
  assert.deepEqual(Buffer.concat(chunks), data);

  const streamed = path.join(dir, 'b.zip');
  const ws = fs.createWriteStream(streamed);
  assert.equal(await bb.downloadTo(h.DEMO_SESSION, ws), data.length);
  await new Promise((resolve) => ws.end(resolve));
  assert.deepEqual(fs.readFileSync(streamed), data);
  assert.deepEqual(h.leftovers(dir), ['a.zip', 'b.zip']);
});

test('a Writable that pushes back gets every chunk, in order', async () => {
  const got = [];
  const slow = new Writable({
    highWaterMark: 1,
    write(chunk, _enc, cb) {
      got.push(Buffer.from(chunk));
      setImmediate(cb);
    },
  });
  await server.script(h.DEMO_SESSION, 'trickle 700 1');
  const n = await bb.downloadTo(h.DEMO_SESSION, slow);
  const all = Buffer.concat(got);
  assert.equal(all.length, n);
  assert.ok(got.length > 1, 'several chunks');
  assert.deepEqual(all, await demoBytes());
});

test('a sink that throws cancels the download and rejects with its error', async (t) => {
  await server.script(h.DEMO_SESSION, 'trickle 500 5');
  let calls = 0;
  const boom = new Error('sink exploded');
  await assert.rejects(
    bb.downloadTo(h.DEMO_SESSION, () => {
      calls++;
      throw boom;
    }),
    (e) => e === boom,
  );
  assert.equal(calls, 1, 'no chunk after the one that threw: the library was told to stop');
  // An async sink that rejects, and a Writable that errors, do the same.
  await server.script(h.DEMO_SESSION, 'trickle 500 5');
  calls = 0;
  await assert.rejects(
    bb.downloadTo(h.DEMO_SESSION, async () => {
      calls++;
      throw boom;
    }),
    (e) => e === boom,
  );
  assert.equal(calls, 1);
  await server.script(h.DEMO_SESSION, 'trickle 500 5');
  const failing = new Writable({
    write(_chunk, _enc, cb) {
      cb(new Error('disk on fire'));
    },
  });
  failing.on('error', () => {});
  await assert.rejects(bb.downloadTo(h.DEMO_SESSION, failing), /disk on fire/);
  // A sink returning false cancels with CancelledError.
  await assert.rejects(bb.downloadTo(h.DEMO_SESSION, () => false), bb.CancelledError);
  await server.script(h.DEMO_SESSION, '');
  // A file download whose progress callback throws leaves nothing behind.
  const dir = h.scratch(t);
  const client = new bb.Client({
    progress: (received) => {
      if (received > 0) throw boom;
    },
  });
  t.after(() => client.close());
  await assert.rejects(client.download(h.DEMO_SESSION, path.join(dir, 'x.zip')), (e) => e === boom);
  assert.deepEqual(h.leftovers(dir), []);
});

test('100 throwing sinks leak no file descriptors and leave nothing behind', async (t) => {
  const dir = h.scratch(t);
  const client = new bb.Client({
    progress: (received) => {
      if (received > 0) throw new Error('stop');
    },
  });
  t.after(() => client.close());
  await bb.downloadBuffer(h.DEMO_SESSION); // warm up: threads and connections exist
  await client.downloadBuffer(h.DEMO_SESSION).catch(() => {});
  const before = h.openFds();
  for (let i = 0; i < 50; i++) {
    await assert.rejects(bb.downloadTo(h.DEMO_SESSION, () => {
      throw new Error('stop');
    }), /stop/);
    await assert.rejects(client.download(h.DEMO_SESSION, path.join(dir, 'x.zip')), /stop/);
  }
  const after = h.openFds();
  assert.ok(after <= before + 4, `${before} descriptors before, ${after} after`);
  assert.deepEqual(h.leftovers(dir), []);
});

test('an AbortSignal: refused before the call, and honoured at the next chunk', async () => {
  const before = await server.requestCount();
  await assert.rejects(bb.downloadBuffer(h.DEMO_SESSION, { signal: AbortSignal.abort('early') }), (e) => {
    assert.ok(e instanceof bb.CancelledError);
    assert.equal(e.cause, 'early');
    return true;
  });
  assert.equal(await server.requestCount(), before, 'nothing sent for an aborted signal');
  await server.script(h.DEMO_SESSION, 'trickle 500 5');
  const controller = new AbortController();
  let calls = 0;
  await assert.rejects(
    bb.downloadTo(h.DEMO_SESSION, () => {
      calls++;
      controller.abort('enough');
    }, { signal: controller.signal }),
    (e) => e instanceof bb.CancelledError && e.cause === 'enough',
  );
  assert.equal(calls, 1);
  await server.script(h.DEMO_SESSION, '');
});

test('an AbortSignal stops a call stalled on a silent server within seconds, leaving nothing', async (t) => {
  const dir = h.scratch(t);
  const fdsBefore = h.openFds();
  const cases = [
    ['download', (signal) => bb.download(h.DEMO_SESSION, path.join(dir, 'out.zip'), { signal })],
    ['downloadBuffer', (signal) => bb.downloadBuffer(h.DEMO_SESSION, { signal })],
    ['downloadTo', (signal) => bb.downloadTo(h.DEMO_SESSION, () => {}, { signal })],
    ['waitForDownloads', (signal) => bb.waitForDownloads(h.DEMO_SESSION, path.join(dir, 'w.zip'), { signal })],
    ['extractDownloads', (signal) => bb.extractDownloads(h.DEMO_SESSION, path.join(dir, 'x'), { signal })],
    ['Client.download', (signal) => {
      const client = new bb.Client();
      return client.download(h.DEMO_SESSION, path.join(dir, 'c.zip'), { signal }).finally(() => client.close());
    }],
  ];
  for (const [name, call] of cases) {
    await server.script(h.DEMO_SESSION, 'stall-headers 60000');
    const before = await server.requestCount();
    const controller = new AbortController();
    const reason = new Error(`stop ${name}`);
    const pending = call(controller.signal);
    await server.waitForRequests(before + 1); // the request is out, the server silent
    const aborted = Date.now();
    controller.abort(reason);
    await assert.rejects(pending, (e) => {
      assert.ok(e instanceof bb.CancelledError, `${name}: ${e && e.stack}`);
      assert.equal(e.code, 'BB_ERR_CANCELLED');
      assert.equal(e.cause, reason);
      return true;
    });
    const took = Date.now() - aborted;
    assert.ok(took < 5000, `${name} took ${took} ms after the abort`);
    assert.deepEqual(h.leftovers(dir), [], `${name} left something behind`);
  }
  await server.script(h.DEMO_SESSION, '');
  assert.equal(h.openFds(), fdsBefore, 'a cancel handle (eventfd) leaked');
});

test('an AbortSignal aborted while the call waits for a thread rejects at once', async () => {
  bb.configure({ maxThreads: 1 });
  try {
    await server.script(h.DEMO_SESSION, 'stall-headers 60000');
    const before = await server.requestCount();
    const first = new AbortController();
    const busy = bb.downloadBuffer(h.DEMO_SESSION, { signal: first.signal });
    await server.waitForRequests(before + 1);
    const queued = new AbortController();
    const waiting = bb.downloadBuffer(h.DEMO_SESSION, { signal: queued.signal });
    queued.abort('queued');
    await assert.rejects(waiting, (e) => e instanceof bb.CancelledError && e.cause === 'queued');
    assert.equal(await server.requestCount(), before + 1, 'the queued call sent nothing');
    first.abort('first');
    await assert.rejects(busy, (e) => e instanceof bb.CancelledError && e.cause === 'first');
  } finally {
    bb.configure({ maxThreads: 16 });
    await server.script(h.DEMO_SESSION, '');
  }
});

test('an Archive extraction takes a signal too', async (t) => {
  const dir = h.scratch(t);
  const archive = await bb.Archive.fromBuffer(await demoBytes());
  try {
    await assert.rejects(archive.extractTo(path.join(dir, 'x'), { signal: AbortSignal.abort('no') }), bb.CancelledError);
    await archive.extractTo(path.join(dir, 'y'), { signal: new AbortController().signal });
    assert.ok(h.leftovers(dir).length > 0);
    assert.ok(!h.leftovers(dir).some((n) => n.startsWith('x')));
  } finally {
    archive.close();
  }
});

test('progress: 0 first, growing, total known; false cancels', async (t) => {
  const seen = [];
  const client = new bb.Client({ progress: (received, total) => seen.push([received, total]) });
  t.after(() => client.close());
  const data = await client.downloadBuffer(h.DEMO_SESSION);
  assert.deepEqual(seen[0], [0, data.length]);
  assert.deepEqual(seen[seen.length - 1], [data.length, data.length]);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i][0] >= seen[i - 1][0]);

  const dir = h.scratch(t);
  const stopper = new bb.Client({ progress: () => false });
  t.after(() => stopper.close());
  await assert.rejects(stopper.download(h.DEMO_SESSION, path.join(dir, 'x.zip')), (e) => {
    assert.ok(e instanceof bb.CancelledError);
    assert.equal(e.code, 'BB_ERR_CANCELLED');
    return true;
  });
  assert.deepEqual(h.leftovers(dir), []);
});

test('waitForDownloads: file and Buffer; an empty session is NotReadyError', async (t) => {
  const dir = h.scratch(t);
  const file = path.join(dir, 'w.zip');
  await bb.waitForDownloads(h.DEMO_SESSION, file, { timeout: 5000 });
  const data = await bb.waitForDownloadsBuffer(h.DEMO_SESSION, { timeout: 5000, stable: true });
  assert.deepEqual(fs.readFileSync(file), data);
  await assert.rejects(bb.waitForDownloadsBuffer(h.EMPTY_SESSION, { timeout: 0 }), (e) => {
    assert.ok(e instanceof bb.NotReadyError);
    assert.equal(e.code, 'BB_ERR_NOT_READY');
    return true;
  });
  await assert.rejects(bb.waitForDownloads(h.EMPTY_SESSION, path.join(dir, 'e.zip'), { timeout: 0 }), bb.NotReadyError);
  assert.deepEqual(h.leftovers(dir), ['w.zip']);
  // A session whose files arrive later: the wait polls until they are there.
  const id = 'node-late-files';
  await server.putFile(id, 'late.txt', 'hello');
  await server.control('POST', `sessions/${id}/ready-after-ms`, '300');
  const client = new bb.Client({ apiKey: h.API_KEY });
  t.after(() => client.close());
  const late = await client.waitForDownloadsBuffer(id, { timeout: 10000 });
  const archive = await bb.Archive.fromBuffer(late);
  t.after(() => archive.close());
  assert.deepEqual(archive.entries.map((e) => e.originalName), ['late.txt']);
});

test('Archive: entries with names, sizes and times; extractTo; extract; extractDownloads', async (t) => {
  const dir = h.scratch(t);
  const file = path.join(dir, 'd.zip');
  await bb.download(h.DEMO_SESSION, file);
  for (const archive of [await bb.Archive.open(file), await bb.Archive.open(fs.readFileSync(file))]) {
    t.after(() => archive.close());
    assert.equal(archive.length, 2);
    const pdf = archive.entries.find((e) => e.originalName === 'report.pdf');
    assert.ok(pdf, JSON.stringify(archive.entries));
    assert.equal(pdf.name, `report-${h.DEMO_PDF_MS}.pdf`);
    assert.ok(pdf.size > 0);
    assert.equal(pdf.downloadTime.getTime(), h.DEMO_PDF_MS);
    assert.ok(pdf.mtime instanceof Date);
    assert.equal(pdf.isDir, false);
    assert.deepEqual([...archive].map((e) => e.originalName).sort(), ['data.csv', 'report.pdf']);
  }
  const archive = await bb.Archive.openFile(file);
  archive.setLimits({ maxTotalBytes: 10 });
  await assert.rejects(archive.extractTo(path.join(dir, 'small')), bb.InvalidArchiveError);
  assert.equal(fs.existsSync(path.join(dir, 'small')), false);
  archive.setLimits({ maxTotalBytes: 0 });
  await archive.extractTo(path.join(dir, 'out1'));
  archive.close();
  archive.close();
  await assert.rejects(archive.extractTo(path.join(dir, 'out1')), bb.InvalidArgumentError);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'out1')).sort(), ['data.csv', 'report.pdf']);
  await bb.extract(file, path.join(dir, 'out2'));
  assert.deepEqual(fs.readdirSync(path.join(dir, 'out2')).sort(), ['data.csv', 'report.pdf']);
  await bb.extractDownloads(h.DEMO_SESSION, path.join(dir, 'out3'), { timeout: 5000 });
  assert.deepEqual(fs.readdirSync(path.join(dir, 'out3')).sort(), ['data.csv', 'report.pdf']);
  await assert.rejects(bb.Archive.fromBuffer(Buffer.from('not a zip')), bb.InvalidArchiveError);
  await assert.rejects(bb.Archive.openFile(path.join(dir, 'missing.zip')), bb.LocalIOError);
});

test('Client: every method, and its settings reach the server', async (t) => {
  const dir = h.scratch(t);
  await server.control('DELETE', 'requests');
  const client = new bb.Client({
    loadEnv: false,
    baseUrl: server.url,
    apiKey: h.API_KEY,
    userAgentSuffix: 'nodetest/1.0',
    connectTimeout: 2000,
    timeout: 5000,
    deadline: 20000,
    maxRetries: 1,
    fsync: true,
  });
  t.after(() => client.close());
  const chunks = [];
  const n = await client.downloadTo(h.DEMO_SESSION, (c) => chunks.push(Buffer.from(c)));
  assert.equal(Buffer.concat(chunks).length, n);
  await client.waitForDownloads(h.DEMO_SESSION, path.join(dir, 'w.zip'), { timeout: 0 });
  await client.extractDownloads(h.DEMO_SESSION, path.join(dir, 'out'), { timeout: 5000, stable: true });
  await bb.waitForDownloads(h.DEMO_SESSION, path.join(dir, 's.zip'), { timeout: 5000, stable: true });
  await bb.extractDownloads(h.DEMO_SESSION, path.join(dir, 'out2'), { timeout: 5000, stable: true });
  assert.deepEqual(fs.readdirSync(path.join(dir, 'out')).sort(), ['data.csv', 'report.pdf']);
  assert.deepEqual(fs.readFileSync(path.join(dir, 'w.zip')), Buffer.concat(chunks));
  const log = await server.control('GET', 'requests');
  assert.match(log, /user-agent: browserbase-c\/[0-9.]+ nodetest\/1\.0/i);
  assert.ok(!/bb_test_key/.test(log.replace(/x-bb-api-key: bb_test_key/gi, '')), 'the key only in its header');
});

test('configure({maxThreads}) bounds the threads: calls beyond wait their turn', async () => {
  assert.throws(() => bb.configure({ maxThreads: 0 }), RangeError);
  for (const id of ['node-serial-a', 'node-serial-b']) {
    await server.putFile(id, 'a.txt', 'a');
    await server.script(id, 'stall-headers 700');
  }
  // Fresh threads cannot be forced, but a limit of 1 must make the second
  // call start only after the first ended (the server's arrival times say).
  const spare = await Promise.all([bb.downloadBuffer(h.DEMO_SESSION), bb.downloadBuffer(h.DEMO_SESSION)]);
  assert.equal(spare.length, 2);
  bb.configure({ maxThreads: 1 });
  try {
    await server.control('DELETE', 'requests');
    let firstDone = 0;
    const a = bb.downloadBuffer('node-serial-a').then(() => (firstDone = Date.now()));
    const b = bb.downloadBuffer('node-serial-b');
    await Promise.all([a, b]);
    const times = (await server.control('GET', 'requests/times')).trim().split('\n').map(Number);
    assert.equal(times.length, 2);
    assert.ok(times[1] - times[0] >= 650 * 1000, `second request ${(times[1] - times[0]) / 1000} ms after the first`);
  } finally {
    bb.configure({ maxThreads: 16 });
  }
});

test('errors by class, with .code and .status', async (t) => {
  const client = new bb.Client({ maxRetries: 0, timeout: 500 });
  t.after(() => client.close());
  const cases = [
    ['status 400', bb.BadRequestError, 400, 'BB_ERR_HTTP'],
    ['status 403', bb.PermissionDeniedError, 403, 'BB_ERR_PERMISSION_DENIED'],
    ['status 409', bb.ConflictError, 409, 'BB_ERR_HTTP'],
    ['status 422', bb.UnprocessableEntityError, 422, 'BB_ERR_HTTP'],
    ['status 418', bb.APIStatusError, 418, 'BB_ERR_HTTP'],
    ['status 429', bb.RateLimitError, 429, 'BB_ERR_RATE_LIMITED'],
    ['status 503', bb.InternalServerError, 503, 'BB_ERR_SERVER'],
    ['reset', bb.APIConnectionError, undefined, 'BB_ERR_CONNECTION'],
    ['stall-headers 3000', bb.APIConnectionTimeoutError, undefined, 'BB_ERR_TIMEOUT'],
    ['html', bb.InvalidArchiveError, undefined, 'BB_ERR_INVALID_ARCHIVE'],
  ];
  for (const [step, Cls, status, code] of cases) {
    await server.script(h.DEMO_SESSION, step);
    await assert.rejects(client.downloadBuffer(h.DEMO_SESSION), (e) => {
      assert.ok(e instanceof Cls, `${step}: ${e.name}: ${e.message}`);
      assert.ok(e instanceof bb.BrowserbaseError);
      assert.equal(e.name, Cls.name);
      assert.equal(e.status, status, step);
      assert.equal(e.code, code, step);
      if (status) assert.ok(e instanceof bb.APIError);
      return true;
    });
  }
  await server.script(h.DEMO_SESSION, '');
  await assert.rejects(bb.downloadBuffer(h.UNKNOWN_SESSION), (e) => {
    assert.ok(e instanceof bb.NotFoundError);
    assert.equal(e.status, 404);
    assert.equal(e.code, 'BB_ERR_NOT_FOUND');
    return true;
  });
  await assert.rejects(bb.downloadBuffer(h.DEMO_SESSION, { apiKey: 'bb_wrong' }), (e) => {
    assert.ok(e instanceof bb.AuthenticationError);
    assert.equal(e.status, 401);
    assert.ok(!e.message.includes('bb_wrong'), 'the key is not in the message');
    return true;
  });
  const dir = h.scratch(t);
  await assert.rejects(bb.download(h.DEMO_SESSION, path.join(dir, 'no', 'such', 'dir', 'x.zip')), (e) => {
    assert.ok(e instanceof bb.LocalIOError);
    assert.equal(e.code, 'BB_ERR_IO');
    return true;
  });
});

test('bad input: a clear error, nothing sent, nothing written', async (t) => {
  const dir = h.scratch(t);
  const before = await server.requestCount();
  const target = path.join(dir, 'x.zip');
  const bad = [
    [() => bb.download('a\0b', target), bb.InvalidArgumentError, /NUL/],
    [() => bb.download(h.DEMO_SESSION, `${target}\0tail`), bb.InvalidArgumentError, /NUL/],
    [() => bb.download(h.DEMO_SESSION, Buffer.from('x\0y')), bb.InvalidArgumentError, /NUL/],
    [() => bb.downloadBuffer(h.DEMO_SESSION, { apiKey: 'k\0ey' }), bb.InvalidArgumentError, /NUL/],
    [() => bb.downloadBuffer('\ud800'), bb.InvalidArgumentError, /Unicode/],
    [() => bb.downloadBuffer(''), bb.InvalidArgumentError, /empty|session/i],
    [() => bb.downloadBuffer(42), TypeError, /string/],
    [() => bb.waitForDownloadsBuffer(h.DEMO_SESSION, { timeout: -1 }), bb.InvalidArgumentError, /timeout/],
    [() => bb.waitForDownloadsBuffer(h.DEMO_SESSION, { timeout: 2 ** 33 }), bb.InvalidArgumentError, /timeout/],
    [() => bb.downloadTo(h.DEMO_SESSION, 'not a sink'), TypeError, /sink/],
    [() => bb.downloadBuffer(h.DEMO_SESSION, { signal: AbortSignal.abort() }), bb.CancelledError, /aborted/],
    [() => bb.download(h.DEMO_SESSION, ''), bb.InvalidArgumentError, /empty/],
  ];
  for (const [call, Cls, re] of bad) await assert.rejects(call(), (e) => e instanceof Cls && re.test(e.message));
  for (const opts of [{ baseUrl: 'http://example.com' }, { baseUrl: 'x\0' }, { timeout: 0 }, { maxRetries: -1 }, { nope: 1 }, { caFile: path.join(dir, 'missing.pem') }, { proxy: 'not a url' }, { progress: 3 }]) {
    assert.throws(() => new bb.Client(opts), (e) => e instanceof bb.BrowserbaseError || e instanceof TypeError, JSON.stringify(opts));
  }
  assert.equal(await server.requestCount(), before, 'no request was sent');
  assert.deepEqual(h.leftovers(dir), []);
  const client = new bb.Client();
  client.close();
  await assert.rejects(client.downloadBuffer(h.DEMO_SESSION), /closed/);
});

test('8 concurrent downloads do not starve fs.promises (nor each other)', async (t) => {
  const dir = h.scratch(t);
  const ids = [];
  for (let i = 0; i < 8; i++) {
    const id = `node-concurrent-${i}`;
    ids.push(id);
    await server.putFile(id, `f${i}.txt`, `file ${i}`);
    // Each download's server goes silent for 5 s before answering.
    await server.script(id, 'stall-headers 5000');
  }
  const before = await server.requestCount();
  const started = Date.now();
  let finished = 0;
  const downloads = ids.map((id) =>
    bb.downloadBuffer(id).then((data) => {
      finished++;
      return data;
    }),
  );
  await server.waitForRequests(before + 8);
  // All 8 are now stalled inside the library. libuv's pool (4 threads by
  // default) must still be free: 16 fs.promises calls answer at once.
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 16 }, (_, i) => fs.promises.writeFile(path.join(dir, `f${i}`), 'x')));
  await Promise.all(Array.from({ length: 16 }, (_, i) => fs.promises.readFile(path.join(dir, `f${i}`))));
  const fsMs = Date.now() - t0;
  assert.equal(finished, 0, 'the downloads were still running while fs answered');
  assert.ok(fsMs < 2000, `fs.promises took ${fsMs} ms behind 8 downloads`);
  const results = await Promise.all(downloads);
  assert.ok(Date.now() - started >= 4900);
  for (let i = 0; i < 8; i++) {
    const archive = await bb.Archive.fromBuffer(results[i]);
    assert.deepEqual(archive.entries.map((e) => e.originalName), [`f${i}.txt`]);
    archive.close();
  }
});

test('a missing library is LibraryNotFoundError listing the places tried', () => {
  const script = `
    const bb = require(${JSON.stringify(path.resolve(__dirname, '..'))});
    bb.downloadBuffer('x').then(() => process.exit(3), (e) => {
      console.log(JSON.stringify({ name: e.name, ok: e instanceof bb.LibraryNotFoundError, message: e.message }));
    });`;
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, BROWSERBASE_C_LIBRARY: '/nonexistent/libbrowserbase.so' },
    encoding: 'utf8',
    timeout: 20000,
  });
  const out = JSON.parse(child.stdout.trim());
  assert.equal(out.name, 'LibraryNotFoundError');
  assert.ok(out.ok);
  assert.match(out.message, /\/nonexistent\/libbrowserbase\.so/);
  assert.match(out.message, /BROWSERBASE_C_LIBRARY/);
});

test('lookup: next to the package, then the system search path', (t) => {
  const dir = h.scratch(t);
  const pkg = path.join(dir, 'browserbase-c');
  fs.mkdirSync(path.join(pkg, 'lib'), { recursive: true });
  const root = path.resolve(__dirname, '..');
  for (const f of ['index.js', 'package.json']) fs.copyFileSync(path.join(root, f), path.join(pkg, f));
  for (const f of fs.readdirSync(path.join(root, 'lib'))) fs.copyFileSync(path.join(root, 'lib', f), path.join(pkg, 'lib', f));
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'));
  const env = { ...process.env };
  delete env.BROWSERBASE_C_LIBRARY;
  delete env.LD_LIBRARY_PATH;
  const probe = (extraEnv) => {
    const child = spawnSync(process.execPath, ['-e', `
      const bb = require(${JSON.stringify(pkg)});
      try { console.log(JSON.stringify({ path: bb.libraryPath() })); }
      catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message })); }`], {
      env: { ...env, ...extraEnv },
      encoding: 'utf8',
      timeout: 20000,
    });
    return JSON.parse(child.stdout.trim());
  };
  // Nothing anywhere: every place is listed.
  const none = probe({});
  assert.equal(none.name, 'LibraryNotFoundError');
  assert.match(none.message, /next to the package: no libbrowserbase\.so\* in /);
  assert.match(none.message, /libbrowserbase\.so\.0/);
  // The system search path (the soname, through LD_LIBRARY_PATH).
  const soDir = path.join(dir, 'system');
  fs.mkdirSync(soDir);
  fs.symlinkSync(h.LIBRARY, path.join(soDir, 'libbrowserbase.so.0'));
  assert.deepEqual(probe({ LD_LIBRARY_PATH: soDir }), { path: 'libbrowserbase.so.0' });
  // Next to the package wins over the system.
  fs.symlinkSync(h.LIBRARY, path.join(pkg, 'libbrowserbase.so'));
  assert.deepEqual(probe({ LD_LIBRARY_PATH: soDir }), { path: path.join(pkg, 'libbrowserbase.so') });
});

/** The first ```lang block after `heading` in the repository's README. */
function readmeBlock(heading, lang) {
  const text = fs.readFileSync(path.join(h.REPO, 'README.md'), 'utf8');
  const at = text.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README has no ${heading}`);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(text.slice(at));
  assert.ok(m, `no ${lang} block after ${heading}`);
  return m[1];
}

test("README's Node snippet runs as written", (t) => {
  const dir = h.scratch(t);
  fs.writeFileSync(path.join(dir, 'app.js'), readmeBlock('## Using it from Node', 'js'));
  const modules = path.join(dir, 'node_modules');
  fs.mkdirSync(modules);
  fs.symlinkSync(path.resolve(__dirname, '..'), path.join(modules, 'browserbase-c'));
  const run = (id) =>
    spawnSync(process.execPath, ['app.js', id], { cwd: dir, env: process.env, encoding: 'utf8', timeout: 60000 });
  const ok = run(h.DEMO_SESSION);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /report\.pdf \d+/);
  assert.match(ok.stdout, /\d+ bytes/);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'out')).sort(), ['data.csv', 'report.pdf']);
  const missing = run(h.UNKNOWN_SESSION);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /BB_ERR_NOT_FOUND/);
});

test('version and libraryPath', () => {
  assert.match(bb.version(), /^\d+\.\d+\.\d+/);
  assert.equal(fs.realpathSync(bb.libraryPath()), fs.realpathSync(h.LIBRARY));
});
