'use strict';
// Shared by the test files: the stand-in server (started on 127.0.0.1:0, its
// `listening http://HOST:PORT` line read), its /_control/ API, scratch dirs.

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const REPO = path.resolve(__dirname, '..', '..', '..');
const LIBRARY = process.env.BROWSERBASE_C_LIBRARY || path.join(REPO, 'target', 'debug', 'libbrowserbase.so');
const SERVER = process.env.BB_STAND_IN_SERVER || path.join(REPO, 'target', 'debug', 'bb-stand-in-server');
const API_KEY = 'bb_test_key';
const DEMO_SESSION = '0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80';
const EMPTY_SESSION = '1c6f4b8d-ae30-4d72-9f5b-6a4c3b2d0e91';
const UNKNOWN_SESSION = '00000000-0000-4000-8000-000000000000';
const DEMO_PDF_MS = 1719265797164;

/** Starts the server; sets the environment the library's default client reads. */
async function startServer() {
  for (const [what, file] of [['the library', LIBRARY], ['the stand-in server', SERVER]]) {
    if (!fs.existsSync(file)) throw new Error(`${what} not found at ${file}: run cargo build first`);
  }
  const proc = spawn(SERVER, ['--listen', '127.0.0.1:0', '--demo', '--exit-on-stdin-eof'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: proc.stdout });
  const first = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the stand-in server did not start within 15 s')), 15000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    proc.once('exit', (code) => reject(new Error(`the stand-in server exited (${code})`)));
  });
  const m = /^listening (http:\/\/127\.0\.0\.1:\d+)$/.exec(first);
  if (!m) throw new Error(`unexpected first line ${first}`);
  lines.on('line', () => {});
  for (const name of Object.keys(process.env)) if (name.startsWith('BROWSERBASE_')) delete process.env[name];
  process.env.BROWSERBASE_C_LIBRARY = LIBRARY;
  process.env.BROWSERBASE_BASE_URL = m[1];
  process.env.BROWSERBASE_API_KEY = API_KEY;
  return {
    url: m[1],
    stop() {
      proc.stdin.end();
      proc.kill();
    },
    async control(method, rest, body) {
      const res = await fetch(`${m[1]}/_control/${rest}`, { method, body });
      const text = await res.text();
      if (!res.ok) throw new Error(`control ${method} ${rest}: ${res.status} ${text}`);
      return text;
    },
    async requestCount() {
      return Number(await this.control('GET', 'requests/count'));
    },
    /** Waits (on the server's request log) until `n` requests arrived. */
    async waitForRequests(n, limitMs = 10000) {
      const end = Date.now() + limitMs;
      for (;;) {
        const count = await this.requestCount();
        if (count >= n) return count;
        if (Date.now() > end) throw new Error(`only ${count} of ${n} requests arrived within ${limitMs} ms`);
        await new Promise((r) => setTimeout(r, 10)); // poll interval, not a wait for the event
      }
    },
    script(id, text) {
      return this.control('POST', `sessions/${encodeURIComponent(id)}/script`, text);
    },
    putFile(id, name, data) {
      return this.control('POST', `sessions/${encodeURIComponent(id)}/files/${encodeURIComponent(name)}`, data);
    },
  };
}

function scratch(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-node-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Everything in `dir`, recursively, hidden files included. */
function leftovers(dir) {
  return fs.readdirSync(dir, { recursive: true }).sort();
}

function openFds() {
  return fs.readdirSync('/proc/self/fd').length;
}

module.exports = {
  REPO, LIBRARY, SERVER, API_KEY, DEMO_SESSION, EMPTY_SESSION, UNKNOWN_SESSION, DEMO_PDF_MS,
  startServer, scratch, leftovers, openFds,
};
