// deploy/monitoring/: every metric the alerts and the dashboard use exists
// on a running wsflyte's /metrics (after it handled an event), every runbook
// link points at a section of docs/runbook.md, and, with Debian's promtool
// (package prometheus, which scripts/install-deps.sh installs), the rules
// load and the dead-letter and stuck-events alerts fire when they should.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { Stack, ROOT, run, healthPort, workspaceEvent, eventsFile, waitFor } from './harness.mjs';

const YAML = await import(pathToFileURL(join(ROOT, 'tests/servers/node_modules/yaml/dist/index.js')).href);
const MON = join(ROOT, 'deploy/monitoring');
const rule = YAML.parse(readFileSync(join(MON, 'prometheusrule.yaml'), 'utf8'));
const dashboard = JSON.parse(readFileSync(join(MON, 'grafana-dashboard.json'), 'utf8'));
const rules = rule.spec.groups.flatMap((g) => g.rules);

// Every PromQL expression of the dashboard: panel targets and variable queries.
function dashboardExprs(node, out = []) {
  if (Array.isArray(node)) node.forEach((n) => dashboardExprs(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'expr' || k === 'query' || k === 'definition') && typeof v === 'string') out.push(v);
      else dashboardExprs(v, out);
    }
  }
  return out;
}

const metricNames = (exprs) => [...new Set(exprs.flatMap((e) => e.match(/\bwsflyte_[a-z_]+/g) || []))].sort();

// {name: type} of every family /metrics declares, and the sample names.
function parseExposition(text) {
  const types = {}, samples = new Map();
  for (const line of text.split('\n')) {
    let m;
    if ((m = /^# TYPE (\S+) (\S+)$/.exec(line))) types[m[1]] = m[2];
    else if ((m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line))) samples.set(m[1] + (m[2] || ''), Number(m[3]));
  }
  return { types, samples };
}

// A name exists when its family is declared (HELP/TYPE present, samples or
// not), or when it is the _bucket, _sum or _count series of a histogram.
function exists(name, types) {
  if (types[name]) return true;
  const m = /^(.+)_(bucket|sum|count)$/.exec(name);
  return !!m && (types[m[1]] === 'histogram' || (m[2] !== 'bucket' && types[m[1]] === 'summary'));
}

let stack;
after(async () => { await stack?.stop(); });

test('every metric of the alerts and the dashboard is on /metrics of a wsflyte that handled an event', async () => {
  stack = await new Stack().start();
  stack.startConsumer();
  const port = await healthPort(stack);
  const ev = workspaceEvent('ws-monitoring', 1);
  const produced = await stack.produce(eventsFile(stack, 'mon.jsonl', [ev]));
  assert.equal(produced.code, 0, produced.stderr);
  assert.equal((await stack.resultOf(ev.event_id)).status, 'SUCCEEDED');

  const ready = (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
  const { types, samples } = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  const used = metricNames([...rules.map((r) => r.expr), ...dashboardExprs(dashboard)]);
  assert.ok(used.length >= 12, `metric names found: ${used}`);
  const missing = used.filter((n) => !exists(n, types));
  assert.deepEqual(missing, [], `used by deploy/monitoring/ but not on /metrics: ${missing.join(', ')}`);
  // The readiness the NotReady alert watches is /readyz's own answer.
  assert.equal(ready, 200);
  assert.equal(samples.get('wsflyte_ready'), 1);
  // An API answering 5xx makes the replica unready, on /metrics as on /readyz.
  await stack.fault('kube', { status: 503 });
  await stack.produce(eventsFile(stack, 'mon2.jsonl', [workspaceEvent('ws-monitoring-2', 1)]));
  const readyNow = async () => parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).samples.get('wsflyte_ready');
  assert.equal(await waitFor(async () => (await readyNow()) === 0, 20000, 250), true, 'wsflyte_ready did not drop to 0');
  assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 503);
  await stack.clearFaults();
  // Sanity of the check itself: a name that does not exist is caught.
  assert.equal(exists('wsflyte_no_such_total', types), false);
  assert.equal(exists('wsflyte_events_total_bucket', types), false);
});

test('each alert has a summary, a description and a runbook link to a section that exists', () => {
  const runbook = readFileSync(join(ROOT, 'docs/runbook.md'), 'utf8');
  // GitHub's heading anchors: lower case, punctuation dropped, spaces to '-'.
  const anchors = new Set(runbook.split('\n').filter((l) => /^#+ /.test(l))
    .map((l) => l.replace(/^#+ /, '').trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
  const names = rules.map((r) => r.alert);
  for (const wanted of ['WsflyteEventsStuck', 'WsflyteDeadLetters', 'WsflyteNotReady', 'WsflyteFailedEvents',
    'WsflyteApiThrottled', 'WsflyteDriftRepairs']) assert.ok(names.includes(wanted), `alert ${wanted}`);
  for (const r of rules) {
    assert.ok(r.annotations?.summary && r.annotations?.description, `${r.alert}: summary and description`);
    const m = /^docs\/runbook\.md#(.+)$/.exec(r.annotations.runbook_url || '');
    assert.ok(m, `${r.alert}: runbook_url ${r.annotations.runbook_url}`);
    assert.ok(anchors.has(m[1]), `${r.alert}: docs/runbook.md has no section #${m[1]}`);
  }
});

const SERIES = (name, labels) => `${name}{job="wsflyte",namespace="wsflyte",pod="wsflyte-0"${labels ? `,${labels}` : ''}}`;

// promtool's unit tests of the rules: given series, when does each alert fire.
const RULE_TESTS = {
  rule_files: ['rules.yaml'],
  evaluation_interval: '1m',
  tests: [
    {
      // One PERMANENT dead letter at minute 3; none of class TRANSIENT.
      interval: '1m',
      input_series: [
        { series: SERIES('wsflyte_dead_lettered_total', 'error_class="PERMANENT"'), values: '0 0 0 1x30' },
        { series: SERIES('wsflyte_dead_lettered_total', 'error_class="TRANSIENT"'), values: '0x33' },
      ],
      alert_rule_test: [
        { eval_time: '2m', alertname: 'WsflyteDeadLetters', exp_alerts: [] },
        { eval_time: '5m', alertname: 'WsflyteDeadLetters', exp_alerts: [{ exp_labels: { severity: 'warning', namespace: 'wsflyte', error_class: 'PERMANENT' } }] },
        { eval_time: '20m', alertname: 'WsflyteDeadLetters', exp_alerts: [] },
      ],
    },
    {
      // Lag on the events topic from minute 0; results until minute 5, then none.
      interval: '1m',
      input_series: [
        { series: SERIES('wsflyte_consumer_lag', 'topic="workspace.lifecycle.v1",partition="0"'), values: '3x40' },
        { series: SERIES('wsflyte_consumer_lag', 'topic="workspace.lifecycle.v1.wsflyte.retry-30m",partition="0"'), values: '9x40' },
        { series: SERIES('wsflyte_events_total', 'event_type="WORKSPACE_CREATED",status="SUCCEEDED"'), values: '0+1x5 5x35' },
      ],
      alert_rule_test: [
        { eval_time: '12m', alertname: 'WsflyteEventsStuck', exp_alerts: [] },
        { eval_time: '30m', alertname: 'WsflyteEventsStuck', exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'wsflyte', pod: 'wsflyte-0' } }] },
      ],
    },
  ],
};

function promtoolPath() {
  try {
    return execFileSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

test('promtool accepts the rules and its unit tests of the alerts pass', async (t) => {
  const promtool = promtoolPath();
  if (!promtool) {
    t.skip('promtool not installed (Debian package prometheus; scripts/install-deps.sh installs it): rules not validated');
    return;
  }
  const dir = stack.dir;
  // The PrometheusRule's spec is a plain Prometheus rules file.
  writeFileSync(join(dir, 'rules.yaml'), JSON.stringify(rule.spec, null, 2));
  const check = await run(promtool, ['check', 'rules', join(dir, 'rules.yaml')]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  // Annotations are left out of the expectations above: promtool would
  // compare them too, and they hold rendered values.
  const tests = structuredClone(RULE_TESTS);
  const annotations = Object.fromEntries(rules.map((r) => [r.alert, r.annotations]));
  for (const g of tests.tests) {
    for (const a of g.alert_rule_test) for (const e of a.exp_alerts) e.exp_annotations = expectedAnnotations(annotations[a.alertname], e.exp_labels, a.alertname);
  }
  writeFileSync(join(dir, 'rules.test.yaml'), JSON.stringify(tests, null, 2));
  const unit = await run(promtool, ['test', 'rules', join(dir, 'rules.test.yaml')]);
  assert.equal(unit.code, 0, unit.stdout + unit.stderr);
});

// The annotations promtool renders for an alert in the tests above.
function expectedAnnotations(templates, labels, alert) {
  const value = { WsflyteDeadLetters: '1', WsflyteEventsStuck: '3' }[alert];
  const out = {};
  for (const [k, v] of Object.entries(templates)) {
    out[k] = v.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, l) => labels[l] ?? '')
      .replace(/\{\{ \$value \| humanize \}\}/g, value).replace(/\{\{ \$value \}\}/g, value);
  }
  return out;
}
