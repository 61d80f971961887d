// A local wsflyte stack for end-to-end tests and the demo: wsflyte-devkafka,
// the FlyteAdmin and Kubernetes test servers, and wsflyte itself, each a
// separate process talking over real TCP, as in production.
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname, basename } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BUILD = process.env.WSFLYTE_BUILD_DIR || join(ROOT, 'build');
export const bin = (name) => join(BUILD, name);
// Short retry tiers so that tests see records come back.
export const TIERS = ['2s', '4s'];

// ---- sanitizer and valgrind reports ----
//
// With a sanitizer build in WSFLYTE_BUILD_DIR, a report from any C program
// fails the test file.  ASan and LeakSanitizer write their reports into
// REPORT_DIR (log_path), so that a report is found whoever spawned the
// program and whether or not anyone read its stderr.  GCC's UBSan runtime
// ignores log_path when linked with ASan: its reports go to stderr, which
// the harness scans for every program it spawns.  Both sanitizers abort, so a
// sanitizer death is also a SIGABRT.  Options already set in the environment
// win over these defaults, except log_path.  A SIGKILLed program reports
// nothing, as it should.
//
// WSFLYTE_WRAPPER runs programs under a command, e.g.
//   WSFLYTE_WRAPPER="valgrind --leak-check=full --error-exitcode=99"
// for the programs named in WSFLYTE_WRAP (comma-separated, default wsflyte;
// "all" for every C program).  Valgrind gets --log-file in REPORT_DIR unless
// given one (then its logs are not checked), and a log whose ERROR SUMMARY is
// not 0 is a report.
const REPORT_DIR = mkdtempSync(join(tmpdir(), 'wsflyte-reports-'));
const SAN_DEFAULTS = {
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1:disable_coredump=1:strict_string_checks=1:' +
    'detect_stack_use_after_return=1:check_initialization_order=1',
  UBSAN_OPTIONS: 'halt_on_error=1:abort_on_error=1:disable_coredump=1:print_stacktrace=1',
};
for (const [name, defaults] of Object.entries(SAN_DEFAULTS)) {
  const forced = name === 'ASAN_OPTIONS' ? `log_path=${join(REPORT_DIR, 'asan')}` : '';
  process.env[name] = [defaults, process.env[name], forced].filter(Boolean).join(':');
}
const SAN_REPORT = /==\d+==ERROR: \w*Sanitizer|SUMMARY: \w*Sanitizer|^.*runtime error: .*$/m;
const CRASH_SIGNALS = new Set(['SIGABRT', 'SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE']);
const WRAPPER = (process.env.WSFLYTE_WRAPPER || '').split(/\s+/).filter(Boolean);
const WRAPPED = new Set((process.env.WSFLYTE_WRAP || 'wsflyte').split(',').map((x) => x.trim()));
if (WRAPPER.length && basename(WRAPPER[0]) === 'valgrind') {
  // The ERROR SUMMARY line tells a finished log from a running one: no -q.
  for (let i = WRAPPER.length - 1; i > 0; i--) if (WRAPPER[i] === '-q' || WRAPPER[i] === '--quiet') WRAPPER.splice(i, 1);
  if (!WRAPPER.some((a) => a.startsWith('--log-file'))) WRAPPER.splice(1, 0, `--log-file=${join(REPORT_DIR, 'valgrind.%p')}`);
}
// How long a stopped program may take to exit: valgrind's leak check is slow.
export const STOP_GRACE_MS = WRAPPER.length ? 60000 : 10000;

const reports = [];
const seenFiles = new Set();
let reported = 0;
const names = new Map(); // pid -> program, for ASan's log files

// The command line that runs the C program `name` (wrapped if asked).
export function command(name, args = []) {
  const path = bin(name);
  if (WRAPPER.length && (WRAPPED.has('all') || WRAPPED.has(name))) return [WRAPPER[0], [...WRAPPER.slice(1), path, ...args]];
  return [path, args];
}

// Records a sanitizer report or crash seen in a program's stderr or exit.
function checkExit(name, pid, stderr, code, signal) {
  const m = SAN_REPORT.exec(stderr);
  if (!m && !CRASH_SIGNALS.has(signal)) return;
  const at = m ? Math.max(0, m.index - 200) : Math.max(0, stderr.length - 4000);
  reports.push(`${name} (pid ${pid}) ${signal ? `killed by ${signal}` : `exited ${code}`}:\n` +
    stderr.slice(at, at + 8000));
}

// Watches a spawned program's stderr and exit for sanitizer reports.
function watch(child, name) {
  names.set(child.pid, name);
  let stderr = '';
  child.stderr?.on('data', (d) => { if (stderr.length < 4 << 20) stderr += d; });
  noteOutput(child);
  child.once('close', (code, signal) => checkExit(name, child.pid, stderr, code, signal));
  return child;
}

// Every report not handed out yet: from watched programs, ASan's log files
// and valgrind's logs.
export function takeReports() {
  const found = reports.splice(0);
  for (const f of readdirSync(REPORT_DIR).sort()) {
    if (seenFiles.has(f)) continue;
    const text = readFileSync(join(REPORT_DIR, f), 'utf8');
    const pid = Number(f.split('.').pop());
    const who = `${names.get(pid) ?? 'a program'} (pid ${pid}), ${f}`;
    if (f.startsWith('valgrind.')) {
      const summary = /ERROR SUMMARY: (\d+) errors/.exec(text);
      if (!summary) continue; // still running
      seenFiles.add(f);
      if (summary[1] !== '0') found.push(`${who}:\n${text.slice(-16000)}`);
    } else {
      seenFiles.add(f);
      if (SAN_REPORT.test(text)) found.push(`${who}:\n${text.slice(0, 16000)}`);
    }
  }
  return found;
}

// Throws when a program reported anything since the last check.
export function assertNoReports(what = 'a wsflyte program') {
  const found = takeReports();
  reported += found.length;
  if (found.length) throw new Error(`${what} reported ${found.length} sanitizer/valgrind finding(s) (${REPORT_DIR}):\n\n${found.join('\n\n')}`);
}

// The last word: reports from programs nobody checked fail the test file.
process.on('exit', () => {
  const found = takeReports();
  if (found.length) {
    process.stderr.write(`\nsanitizer/valgrind reports (kept in ${REPORT_DIR}):\n\n${found.join('\n\n')}\n`);
    process.exitCode = 1;
  } else if (!reported) {
    rmSync(REPORT_DIR, { recursive: true, force: true });
  }
});

// ---- progress ----
//
// A busy machine makes everything slower, not wrong: waits are bounded by
// progress, not by a wall-clock total.  Progress is what the programs the
// harness started do: output (wsflyte logs a line per event, retry, repair
// and rebalance) or a second of CPU time among them (an event of 8,700
// members under ASan on a loaded machine computes for a minute without a
// line).  A wait gives up only when the whole stack has been idle for its
// limit, or after PATIENCE times that limit in all (a stack that keeps
// working without ever getting there).
const PATIENCE = 4;
const CPU_SECOND = 100; // clock ticks (USER_HZ, 100 on Linux)
let outputBytes = 0;
const livePids = new Set();
function noteOutput(child) {
  livePids.add(child.pid);
  child.once('exit', () => livePids.delete(child.pid));
  child.stderr?.on('data', (d) => { outputBytes += d.length; });
}

// User and system CPU ticks of every live program the harness started.
function cpuTicks() {
  let sum = 0;
  for (const pid of livePids) {
    try {
      // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += Number(f[11]) + Number(f[12]);
    } catch { /* gone meanwhile */ }
  }
  return sum;
}

// Starts a program that prints its address as the first line of stdout.
function startServer(cmd, args, name, logs, stdin = 'ignore', native = false) {
  return new Promise((resolveStart, reject) => {
    const child = spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'] });
    if (native) watch(child, name);
    else noteOutput(child);
    const lines = createInterface({ input: child.stdout });
    // Starting is quick even under ASan; a minute tells a busy machine from a hung program.
    const timer = setTimeout(() => reject(new Error(`${name}: no address within 60 s`)), 60000);
    child.stderr.on('data', (d) => logs.push(`[${name}] ${d}`));
    child.on('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${logs.join('')}`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolveStart({ child, address: line.trim(), lines });
    });
  });
}

// librdkafka's mock brokers hold a fetch that finds no data for the whole
// fetch.wait.max.ms (500 ms by default), even when a record arrives meanwhile
// (a real broker answers at once): every consumer of a stack waits this long
// instead, wsflyte's and its tools' (kafka.properties) and kcat's.
const MOCK_FETCH_WAIT_MS = '50';

// kcat's reads (-C -e) end when every partition has reported its end, which
// the mock brokers do only after that hold.
function kcatArgs(args) {
  return args[0] === '-C' ? ['-C', '-X', `fetch.wait.max.ms=${MOCK_FETCH_WAIT_MS}`, ...args.slice(1)] : args;
}

// Runs a program to its end; a C program of the build (cmd under BUILD) is
// wrapped and checked for sanitizer reports.
export function run(cmd, args, { input, timeoutMs = 60000 } = {}) {
  const name = resolve(dirname(cmd)) === resolve(BUILD) ? basename(cmd) : null;
  if (name) [cmd, args] = command(name, args);
  if (cmd === 'kcat') args = kcatArgs(args);
  return new Promise((resolveRun) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        if (name) checkExit(name, child.pid, stderr, child.exitCode, child.signalCode);
        resolveRun({ code: error ? (error.code ?? 1) : 0, stdout, stderr });
      });
    if (name) names.set(child.pid, name);
    if (input !== undefined) child.stdin.end(input);
  });
}

// Names the Stack gives its own servers: no execution cluster may take them.
const SERVER_NAMES = new Set(['flyte', 'kube']);

// The clusters option as [{name, weight, qps, burst, kubeArgs, token_file,
// ca_file, oidc_provider}]: a string is a cluster of that name.
function clusterSpecs(clusters) {
  const specs = clusters.map((c) => (typeof c === 'string' ? { name: c } : { ...c }));
  const seen = new Set();
  for (const c of specs) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(c.name ?? '')) throw new Error(`cluster name ${JSON.stringify(c.name)}: not a DNS label`);
    if (SERVER_NAMES.has(c.name)) throw new Error(`cluster name ${c.name}: taken by the stack's own server`);
    if (seen.has(c.name)) throw new Error(`cluster ${c.name} given twice`);
    seen.add(c.name);
  }
  return specs;
}

export class Stack {
  // groups: other consumer groups whose retry and dead-letter topics
  // devkafka creates too; topics: {name: partitions} overriding `partitions`;
  // editConfig(doc): changes the configuration document before it is written.
  // clusters: execution clusters, each a Kubernetes test server of its own
  // besides the control plane's (kubeUrl): names, or {name, weight, qps,
  // burst, kubeArgs (default: kubeArgs), token_file, ca_file, oidc_provider};
  // written as kubernetes.clusters.  placement: {label, default}, written as
  // kubernetes.placement (with clusters only).
  constructor({ partitions = 3, config = {}, kubeArgs = [], flyteArgs = [], groups = [], topics = {},
    editConfig, clusters = [], placement = {} } = {}) {
    this.opts = { partitions, config, kubeArgs, flyteArgs, groups, topics, editConfig,
      clusters: clusterSpecs(clusters), placement };
    this.logs = [];
    this.children = [];
    this.clusters = {}; // name -> {name, url, weight, up, ...}, once started
    this.dir = mkdtempSync(join(tmpdir(), 'wsflyte-'));
  }

  async start() {
    process.env.WSFLYTE_RETRY_TIERS = TIERS.join(','); // the tier topics devkafka creates
    const kafkaArgs = ['--partitions', String(this.opts.partitions),
      ...this.opts.groups.flatMap((g) => ['--group', g]),
      ...Object.entries(this.opts.topics).flatMap(([t, n]) => ['--topic', `${t}:${n}`])];
    const kafka = await startServer(...command('wsflyte-devkafka', kafkaArgs),
      'devkafka', this.logs, 'pipe', true);
    delete process.env.WSFLYTE_RETRY_TIERS;
    this.children.push(kafka.child);
    this.kafkaProcess = kafka.child;
    this.bootstrap = kafka.address;
    const flyte = await startServer('node',
      [join(ROOT, 'tests/servers/flyteadmin.js'), '--port', '0', ...this.opts.flyteArgs],
      'flyteadmin', this.logs);
    this.children.push(flyte.child);
    this.flyteUrl = flyte.address;
    const kube = await startServer('node',
      [join(ROOT, 'tests/servers/kube.js'), '--port', '0', ...this.opts.kubeArgs], 'kube', this.logs);
    this.children.push(kube.child);
    this.kubeUrl = kube.address;
    for (const spec of this.opts.clusters) await this.startClusterServer(spec);
    this.configPath = join(this.dir, 'config.yaml');
    writeFileSync(this.configPath, this.configYaml());
    return this;
  }

  // The configuration as YAML; JSON is YAML, and JSON.stringify quotes safely.
  configYaml() {
    const c = this.opts.config;
    // Client-side pacing of both APIs (config.qps, config.burst): by default high enough
    // never to bind on these servers; at the contract's 50 requests/s the tests of hundreds
    // of workspaces would take minutes.  pacing.test.mjs uses the contract's 50/100.
    const qps = c.qps ?? 2000;
    const pace = { qps, burst: c.burst ?? Math.max(1, 2 * qps) };
    const doc = {
      kafka: {
        bootstrap_servers: this.bootstrap, group_id: 'wsflyte',
        properties: {
          'session.timeout.ms': '6000', 'heartbeat.interval.ms': '500', 'fetch.wait.max.ms': MOCK_FETCH_WAIT_MS,
          ...(c.kafkaProperties || {}),
        },
      },
      schemas: { directory: join(ROOT, 'schemas') },
      results: { format: c.resultsFormat || 'avro' },
      flyte: { admin_url: this.flyteUrl, console_url: `${this.flyteUrl}/console`, ...pace },
      kubernetes: { api_url: this.kubeUrl, ...pace, ...this.clustersConfig(pace) },
      retry: { in_place_attempts: c.inPlaceAttempts || 3, tiers: TIERS },
      processing: { concurrency: c.concurrency || 8 },
      observability: { listen: '127.0.0.1:0', log_format: 'text', log_level: 'info' },
    };
    this.opts.editConfig?.(doc);
    this.configDoc = doc;
    return JSON.stringify(doc, null, 2) + '\n';
  }

  // kubernetes.clusters and kubernetes.placement (contract §5), or nothing
  // without clusters; pace: the stack's {qps, burst} (qps 0: unpaced).
  clustersConfig(pace) {
    if (!this.opts.clusters.length) return {};
    const p = this.opts.placement;
    return {
      clusters: this.opts.clusters.map((c) => ({
        name: c.name, api_url: this.clusters[c.name].url,
        token_file: c.token_file ?? '', ca_file: c.ca_file ?? '',
        qps: c.qps ?? pace.qps, burst: c.burst ?? pace.burst, weight: c.weight ?? 1,
        oidc_provider: c.oidc_provider ?? '',
      })),
      placement: { label: p.label ?? 'flyte-cluster', default: p.default ?? '' },
    };
  }

  // Fault injection in the Kafka cluster: "down 1", "up 1", "errors 0 3 7"...
  kafkaCommand(line) {
    this.kafkaProcess.stdin.write(line + '\n');
  }

  startConsumer(name = 'wsflyte') {
    const child = spawn(...command('wsflyte', ['--config', this.configPath]), { stdio: ['ignore', 'ignore', 'pipe'] });
    watch(child, name);
    child.stderr.on('data', (d) => this.logs.push(`[${name}] ${d}`));
    this.children.push(child);
    return child;
  }

  async stopConsumer(child, signal = 'SIGTERM') {
    if (child.exitCode !== null) return child.exitCode;
    const exited = new Promise((r) => child.once('exit', (code, sig) => r(code ?? sig)));
    child.kill(signal);
    return exited;
  }

  produce(file, format = 'avro') {
    return run(bin('wsflyte-produce'), ['--config', this.configPath, '--format', format, file]);
  }

  // Publishes one raw value with kcat: a Kafka client outside wsflyte's code.
  kcatProduce(key, value, headers = {}) {
    const args = ['-P', '-b', this.bootstrap, '-t', 'workspace.lifecycle.v1', '-k', key, '-D', '\u0001'];
    for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
    return run('kcat', args, { input: value });
  }

  // The result of eventId among the first count results, waited for up to a
  // minute; fails with the tail of the logs when none comes.
  async resultOf(eventId, count = 100) {
    const r = await waitFor(async () => (await this.results(count, 3)).find((x) => x.event_id === eventId), 60000, 500);
    assert.ok(r, `no result for ${eventId}\n${this.logs.join('').slice(-3000)}`);
    return r;
  }

  async results(count, timeoutS = 60) {
    const r = await run(bin('wsflyte-results'),
      ['--config', this.configPath, '--count', String(count), '--timeout', String(timeoutS)],
      { timeoutMs: (timeoutS + 30) * 1000 });
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  }

  // Every result on the topic now, however slowly the brokers answer (an
  // idle timeout would cut the read short on a loaded machine).
  async allResults(timeoutS = 30) {
    const r = await run(bin('wsflyte-results'),
      ['--config', this.configPath, '--to-end', '--timeout', String(timeoutS)],
      { timeoutMs: (timeoutS + 30) * 1000 });
    assert.equal(r.code, 0, `wsflyte-results --to-end: ${r.stderr}`);
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  }

  async flyteState() { return (await fetch(`${this.flyteUrl}/_test/state`)).json(); }
  async kubeState() { return (await fetch(`${this.kubeUrl}/_test/state`)).json(); }
  async flyteRequests() { return (await fetch(`${this.flyteUrl}/_test/requests`)).json(); }
  async kubeRequests() { return (await fetch(`${this.kubeUrl}/_test/requests`)).json(); }

  async stop() {
    for (const child of this.children.reverse()) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, STOP_GRACE_MS))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    await sleep(100); // the last stderr of the stopped programs
    assertNoReports();
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The drift watch's own requests (cluster-wide LIST and WATCH of the managed
// kinds, reconcile.watch): not part of what an event costs.
export const isWatchRequest = (r) => r.query?.labelSelector === 'app.kubernetes.io/managed-by=wsflyte';

// ---- operations helpers ----

// The port of wsflyte's metrics/health endpoint, read from its start-up log;
// from: the index in stack.logs where the consumer of interest started.
export async function healthPort(stack, timeoutMs = 15000, from = 0) {
  const m = await waitFor(() => stack.logs.slice(from).join('').match(/metrics and health on \S+ \(port (\d+)\)/),
    timeoutMs, 100);
  if (!m) throw new Error('wsflyte did not report its metrics port');
  return Number(m[1]);
}

// Reads every record of a topic with kcat: [{key, headers: {...}, value}].
export async function readTopic(stack, topic) {
  const r = await run('kcat', ['-C', '-b', stack.bootstrap, '-t', topic, '-e', '-q',
    '-f', '%k\u0001%h\u0001%p\u0001%o\u0002']);
  return r.stdout.split('\u0002').filter((s) => s.includes('\u0001')).map((rec) => {
    const [key, h, partition, offset] = rec.split('\u0001');
    const headers = {};
    let last = null;
    for (const kv of h.split(',')) {
      const i = kv.indexOf('=');
      // kcat joins headers with ',': a piece without '=' belongs to the last value.
      if (i < 0 || !/^[a-z][a-z0-9-]*$/i.test(kv.slice(0, i))) {
        if (last) headers[last] += ',' + kv;
        continue;
      }
      last = kv.slice(0, i);
      headers[last] = kv.slice(i + 1);
    }
    return { key, headers, partition: Number(partition), offset: Number(offset) };
  });
}

export async function addFault(url, rule) {
  const r = await fetch(`${url}/_test/faults`, { method: 'POST', body: JSON.stringify(rule) });
  if (!r.ok) throw new Error(`fault rule refused: ${await r.text()}`);
  return (await r.json()).id;
}

export async function clearFaults(url) {
  await fetch(`${url}/_test/faults`, { method: 'DELETE' });
}

// Writes events (objects) as a JSON-lines file in the stack's folder.
export function eventsFile(stack, name, events) {
  const path = join(stack.dir, name);
  writeFileSync(path, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  return path;
}

// A WORKSPACE_CREATED event with Flyte for workspace id, at version v.
export function workspaceEvent(id, v = 1, overrides = {}) {
  return {
    event_id: `${id}-v${v}-${overrides.event_type || 'WORKSPACE_CREATED'}`,
    event_type: 'WORKSPACE_CREATED', occurred_at: 1764316800000 + v, workspace_version: v,
    actor: 'platform', service: null,
    workspace: {
      workspace_id: id, workspace_name: `Workspace ${id}`, services: ['flyte'],
      members: [{ user_id: 'owner-1', email: 'owner-1@company.com', role: 'OWNER' }],
      data_bucket: `${id}-data`, quota: null, labels: {},
    },
    ...overrides,
  };
}

// ---- delivery-guarantee helpers ----

// A lifecycle event as JSON; every field the contract requires.
export function makeEvent({ workspace, version = 1, type = 'WORKSPACE_CREATED', eventId,
  services = ['flyte'], members = [{ user_id: 'owner', email: 'owner@example.com', role: 'OWNER' }] }) {
  return {
    event_id: eventId ?? `${workspace}-v${version}-${Math.random().toString(16).slice(2, 10)}`,
    event_type: type, occurred_at: Date.now(), workspace_version: version, actor: 'test',
    service: null,
    workspace: {
      workspace_id: workspace, workspace_name: `Workspace ${workspace}`, services, members,
      data_bucket: `${workspace}-data`, quota: null, labels: {},
    },
  };
}

// The result_id the contract derives from an event id (consumer/loop.c loop_result_id).
export async function expectedResultId(eventId) {
  const { createHash } = await import('node:crypto');
  const md = createHash('sha256').update(`wsflyte-result:${eventId}`).digest();
  md[6] = (md[6] & 0x0f) | 0x80;
  md[8] = (md[8] & 0x3f) | 0x80;
  const h = md.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

// Writes events as JSON lines into the stack's directory and publishes them.
Stack.prototype.produceEvents = async function produceEvents(events, format = 'avro') {
  const file = join(this.dir, `events-${Date.now()}-${Math.random().toString(16).slice(2)}.jsonl`);
  writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const r = await this.produce(file, format);
  if (r.code !== 0) throw new Error(`wsflyte-produce: ${r.stderr}`);
  return r;
};

// Every record of a topic, read with kcat: {partition, offset, ts, key, headers{}, payload}.
Stack.prototype.readTopic = async function readTopic(topic) {
  const r = await run('kcat', ['-C', '-b', this.bootstrap, '-t', topic, '-e', '-J', '-q']);
  return r.stdout.split('\n').filter(Boolean).map((l) => {
    const j = JSON.parse(l);
    const headers = {};
    for (let i = 0; j.headers && i < j.headers.length; i += 2) headers[j.headers[i]] = j.headers[i + 1];
    return { partition: j.partition, offset: j.offset, ts: j.ts, key: j.key, headers, payload: j.payload };
  });
};

// Adds a fault rule on the FlyteAdmin ('flyte') or Kubernetes ('kube')
// test server, or on an execution cluster's server (its name).
Stack.prototype.fault = async function fault(server, rule) {
  const url = this.serverUrl(server);
  const r = await fetch(`${url}/_test/faults`, { method: 'POST', body: JSON.stringify(rule) });
  if (!r.ok) throw new Error(`fault ${JSON.stringify(rule)}: ${r.status} ${await r.text()}`);
  return (await r.json()).id;
};

// Removes the fault rules of one server (as for fault()), or of every server.
Stack.prototype.clearFaults = async function clearFaults(server) {
  const urls = server === undefined ? this.serverUrls() : [this.serverUrl(server)];
  for (const url of urls) await fetch(`${url}/_test/faults`, { method: 'DELETE' });
};

// ---- execution clusters (kubernetes.clusters) ----
//
// Each execution cluster is a Kubernetes test server of its own, apart from
// the control plane's (kubeUrl, where FlyteAdmin's authz ConfigMaps live).
// Servers are named 'flyte', 'kube' (the control plane) or by their cluster
// name wherever a server is asked for.

// The URL of server 'flyte', 'kube' or an execution cluster's.
Stack.prototype.serverUrl = function serverUrl(server) {
  if (server === 'flyte') return this.flyteUrl;
  if (server === 'kube') return this.kubeUrl;
  const c = this.clusters[server];
  if (!c) throw new Error(`no server ${JSON.stringify(server)}: flyte, kube or one of [${Object.keys(this.clusters)}]`);
  return c.url;
};

// Every test server's URL: FlyteAdmin, the control plane, each cluster.
Stack.prototype.serverUrls = function serverUrls() {
  return [this.flyteUrl, this.kubeUrl, ...Object.values(this.clusters).map((c) => c.url)];
};

// The execution clusters' names, in the order of the configuration.
Object.defineProperty(Stack.prototype, 'clusterNames', { get() { return this.opts.clusters.map((c) => c.name); } });

// Starts the Kubernetes test server of one cluster; its stdin takes "down"
// and "up" (tests/servers/lib/http.js runMain).
Stack.prototype.startClusterServer = async function startClusterServer(spec) {
  const name = `kube-${spec.name}`;
  const { child, address, lines } = await startServer('node',
    [join(ROOT, 'tests/servers/kube.js'), '--port', '0', ...(spec.kubeArgs ?? this.opts.kubeArgs)],
    name, this.logs, 'pipe');
  this.children.push(child);
  child.stdin.on('error', () => {}); // a server that died: ask() reports it
  const replies = [], waiting = [];
  lines.on('line', (l) => (waiting.length ? waiting.shift()(l.trim()) : replies.push(l.trim())));
  // Sends one command and waits for its answer line.
  const ask = (cmd) => new Promise((resolveAsk, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`${name} has exited`));
    const timer = setTimeout(() => reject(new Error(`${name}: no answer to "${cmd}" within 30 s`)), 30000);
    const onExit = () => { clearTimeout(timer); reject(new Error(`${name} exited during "${cmd}"`)); };
    child.once('exit', onExit);
    const answer = (line) => { clearTimeout(timer); child.removeListener('exit', onExit); resolveAsk(line); };
    if (replies.length) answer(replies.shift()); else waiting.push(answer);
    child.stdin.write(cmd + '\n');
  });
  this.clusters[spec.name] = { name: spec.name, url: address, weight: spec.weight ?? 1, up: true, spec, child, ask };
};

// Makes a cluster's API server unreachable (connections cut, then refused);
// its objects are kept for startCluster.
Stack.prototype.stopCluster = async function stopCluster(name) {
  const c = this.clusters[name];
  if (!c) throw new Error(`no cluster ${name}`);
  const line = await c.ask('down');
  if (line !== 'down') throw new Error(`kube-${name}: down: ${line}`);
  c.up = false;
};

// Brings a stopped cluster's API server back on the same port, with the
// objects it had.
Stack.prototype.startCluster = async function startCluster(name) {
  const c = this.clusters[name];
  if (!c) throw new Error(`no cluster ${name}`);
  const line = await c.ask('up');
  if (line !== `up ${c.url}`) throw new Error(`kube-${name}: up: ${line} (expected up ${c.url})`);
  c.up = true;
};

// The test-server state (every object) and request log of a cluster's API
// server ('kube' for the control plane's).
Stack.prototype.clusterState = async function clusterState(name) {
  return (await fetch(`${this.serverUrl(name)}/_test/state`)).json();
};
Stack.prototype.clusterRequests = async function clusterRequests(name) {
  return (await fetch(`${this.serverUrl(name)}/_test/requests`)).json();
};
// Empties the request log of one server, or of every server.
Stack.prototype.clearRequests = async function clearRequests(server) {
  const urls = server === undefined ? this.serverUrls() : [this.serverUrl(server)];
  await Promise.all(urls.map((u) => fetch(`${u}/_test/requests`, { method: 'DELETE' })));
};

// The namespaces wsflyte renders for workspace id: the configuration's
// kubernetes.namespace_template over flyte.domains (defaults as in §5).
Stack.prototype.workspaceNamespaces = function workspaceNamespaces(id) {
  const doc = this.configDoc ?? {};
  const template = doc.kubernetes?.namespace_template ?? '{{ project }}-{{ domain }}';
  const domains = doc.flyte?.domains ?? ['development', 'staging', 'production'];
  return domains.map((d) => template.replaceAll('{{ project }}', id).replaceAll('{{ domain }}', d));
};

// What one cluster's API server ('kube': the control plane's) holds of
// workspace id: {cluster, namespaces (the workspace's Namespace objects
// there, sorted names, terminating ones too), objects (those namespaces,
// everything in them, and everything labelled wsflyte.io/workspace=id)}.
Stack.prototype.snapshotCluster = async function snapshotCluster(name, id) {
  const names = new Set(this.workspaceNamespaces(id));
  const { objects } = await this.clusterState(name);
  const mine = objects.filter((o) => o.metadata.labels?.['wsflyte.io/workspace'] === id ||
    names.has(o.metadata.namespace) || (o.kind === 'Namespace' && names.has(o.metadata.name)));
  return {
    cluster: name,
    namespaces: mine.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name).sort(),
    objects: mine,
  };
};

// The execution clusters holding anything of workspace id (see
// snapshotCluster), in configuration order; a stopped cluster is skipped.
Stack.prototype.clustersOf = async function clustersOf(id) {
  const out = [];
  for (const name of this.clusterNames) {
    if (!this.clusters[name].up) continue;
    if ((await this.snapshotCluster(name, id)).objects.length) out.push(name);
  }
  return out;
};

// Starts a named consumer whose log lines are also kept apart in this.consumerLogs[name];
// configPath defaults to the stack's own configuration.
Stack.prototype.startNamedConsumer = function startNamedConsumer(name, env = {}, configPath = this.configPath) {
  const child = spawn(...command('wsflyte', ['--config', configPath]),
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  watch(child, name);
  this.consumerLogs = this.consumerLogs || {};
  const mine = (this.consumerLogs[name] = []);
  child.stderr.on('data', (d) => { this.logs.push(`[${name}] ${d}`); mine.push(String(d)); });
  this.children.push(child);
  return child;
};

// Polls fn() until it returns a truthy value; returns the last value.  It
// gives up once the stack has made no progress for timeoutMs, or after
// PATIENCE * timeoutMs in all (see "progress" above): never sooner than
// timeoutMs.
export async function waitFor(fn, timeoutMs, stepMs = 250) {
  const start = Date.now();
  let quietSince = start, out = outputBytes, cpu = cpuTicks(), v;
  while (!(v = await fn())) {
    const now = Date.now(), ticks = cpuTicks();
    if (outputBytes !== out || ticks - cpu >= CPU_SECOND) [out, cpu, quietSince] = [outputBytes, ticks, now];
    if (now - quietSince >= timeoutMs || now - start >= PATIENCE * timeoutMs) break;
    await sleep(stepMs);
  }
  return v;
}

// ---- the Schema Registry test server ----

// Starts tests/servers/registry.js (args: its flags, e.g. ['--user', 'u:p',
// '--register', 'subject=file.avsc']); returns {url, logs, stop()}.
export async function startRegistry(args = []) {
  const logs = [];
  const { child, address } = await startServer('node',
    [join(ROOT, 'tests/servers/registry.js'), '--port', '0', ...args], 'registry', logs);
  return {
    url: address,
    logs,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

// Every record value of a topic as raw bytes, read with kcat: [Buffer].
export async function readTopicValues(stack, topic) {
  const child = spawn('kcat', kcatArgs(['-C', '-b', stack.bootstrap, '-t', topic, '-e', '-q', '-f', '%R%s']),
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks = [];
  child.stdout.on('data', (d) => chunks.push(d));
  await new Promise((r) => child.once('close', r));
  const buf = Buffer.concat(chunks), values = [];
  for (let at = 0; at + 4 <= buf.length;) {
    const len = buf.readInt32BE(at);
    values.push(buf.subarray(at + 4, at + 4 + Math.max(len, 0)));
    at += 4 + Math.max(len, 0);
  }
  return values;
}
