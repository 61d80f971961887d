// Validates every manifest under deploy/ against the Kubernetes schemas
// (kubernetes-models validators, plus a structural walk that refuses fields the
// type does not declare), the Strimzi KafkaTopics by hand, and the properties
// the deployment depends on: security context, probes, selectors, least
// privilege, topic names and partitions, the Dockerfile's stages.
//
//   node --test tests/deploy/        (needs `npm ci` in tests/servers)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPLOY = path.join(ROOT, 'deploy');
const NODE_MODULES = path.join(ROOT, 'tests', 'servers', 'node_modules');
// kubernetes-models exports ESM only, so load the files by path.
const load = (rel) => import(pathToFileURL(path.join(NODE_MODULES, rel)).href);
const YAML = await load('yaml/dist/index.js');
const { modelSchema, deref } = await import(pathToFileURL(path.join(ROOT, 'tests', 'servers', 'lib', 'k8s-schema.js')).href);

// ---- loading ----

function readDocs(file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
  return docs
    .map((d, i) => {
      assert.equal(d.errors.length, 0, `${file} document ${i}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS();
    })
    .filter((o) => o !== null)
    .map((obj) => ({ file: path.relative(ROOT, file), obj }));
}

function yamlFiles(dir) {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => path.join(dir, f));
}

const DIRS = [DEPLOY, path.join(DEPLOY, 'kafka')];
const all = DIRS.flatMap(yamlFiles).flatMap(readDocs);
const manifests = all.filter((m) => m.obj.kind !== 'Kustomization');
const kustomizations = all.filter((m) => m.obj.kind === 'Kustomization');
const byKind = (kind) => manifests.filter((m) => m.obj.kind === kind).map((m) => m.obj);
const one = (kind) => {
  const list = byKind(kind);
  assert.equal(list.length, 1, `exactly one ${kind}`);
  return list[0];
};

// apiVersion + kind -> kubernetes-models module path
function modelPath(apiVersion, kind) {
  return apiVersion.includes('/') ? `${apiVersion}/${kind}` : `v1/${kind}`;
}

// Fields the type does not declare are what a typo looks like ("enableServiceLink"):
// the API server drops or rejects them, and the validators do not check them.
function unknownFields(node, value, at, out) {
  const n = deref(node);
  if (!n || value === null || value === undefined) return out;
  if (n.kind === 'struct') {
    if (typeof value !== 'object' || Array.isArray(value)) return out;
    const fields = n.fields();
    for (const [k, v] of Object.entries(value)) {
      if (!(k in fields)) out.push(`${at}.${k}`);
      else unknownFields(fields[k], v, `${at}.${k}`, out);
    }
  } else if (n.kind === 'list' && Array.isArray(value)) {
    value.forEach((v, i) => unknownFields(n.elem, v, `${at}[${i}]`, out));
  } else if (n.kind === 'map' && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) unknownFields(n.elem, v, `${at}.${k}`, out);
  }
  return out;
}

// ---- every manifest ----

test('every Kubernetes manifest passes the kubernetes-models schema, with no undeclared field', async () => {
  const builtins = manifests.filter((m) => !m.obj.apiVersion.startsWith('kafka.strimzi.io/'));
  assert.ok(builtins.length >= 9, 'the manifests are found');
  for (const { file, obj } of builtins) {
    const where = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    const mp = modelPath(obj.apiVersion, obj.kind);
    const mod = await load(`kubernetes-models/${mp}.js`);
    const Model = mod[obj.kind];
    assert.ok(Model, `${where}: kubernetes-models has ${mp}`);
    try {
      new Model(obj).validate();
    } catch (e) {
      assert.fail(`${where}: ${e.message}`);
    }
    assert.deepEqual(unknownFields(modelSchema(mp), obj, obj.kind, []), [], `${where}: undeclared fields`);
  }
});

test('the structural walk catches a misspelt field', () => {
  const d = structuredClone(one('Deployment'));
  d.spec.template.spec.enableServiceLink = false;
  assert.deepEqual(unknownFields(modelSchema('apps/v1/Deployment'), d, 'Deployment', []), ['Deployment.spec.template.spec.enableServiceLink']);
});

test('every namespaced object is in namespace wsflyte, and names are DNS subdomains', () => {
  const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'KafkaTopic']);
  for (const { file, obj } of manifests) {
    assert.match(obj.metadata.name, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, `${file}: name`);
    assert.ok(obj.metadata.name.length <= 253);
    if (!clusterScoped.has(obj.kind)) assert.equal(obj.metadata.namespace, 'wsflyte', `${file}: ${obj.kind} namespace`);
  }
});

test('the kustomizations list exactly the manifests of their folder (the Secret example excepted)', () => {
  for (const dir of DIRS) {
    const k = kustomizations.find((m) => path.dirname(path.join(ROOT, m.file)) === dir);
    assert.ok(k, `${dir} has a kustomization.yaml`);
    const want = yamlFiles(dir).map((f) => path.basename(f)).filter((f) => f !== 'kustomization.yaml' && f !== 'secret.example.yaml').sort();
    assert.deepEqual([...k.obj.resources].sort(), want, `${k.file}: resources`);
  }
});

// ---- the Deployment ----

const deployment = () => one('Deployment');
const podSpec = () => deployment().spec.template.spec;
const container = () => {
  const cs = podSpec().containers;
  assert.equal(cs.length, 1);
  return cs[0];
};

test('Deployment: 3 replicas, selector matching the pod labels', () => {
  const d = deployment();
  assert.equal(d.spec.replicas, 3);
  for (const [k, v] of Object.entries(d.spec.selector.matchLabels)) assert.equal(d.spec.template.metadata.labels[k], v);
});

test('Deployment: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp', () => {
  const pod = podSpec().securityContext;
  const c = container().securityContext;
  assert.equal(pod.runAsNonRoot, true);
  assert.ok(pod.runAsUser > 0);
  assert.equal(pod.seccompProfile.type, 'RuntimeDefault');
  assert.equal(c.runAsNonRoot, true);
  assert.equal(c.readOnlyRootFilesystem, true);
  assert.equal(c.allowPrivilegeEscalation, false);
  assert.deepEqual(c.capabilities.drop, ['ALL']);
  assert.equal(c.capabilities.add, undefined);
  assert.notEqual(c.privileged, true);
  assert.equal(podSpec().hostNetwork, undefined);
});

test('Deployment: liveness /healthz and readiness /readyz on the metrics port 9464', () => {
  const c = container();
  const port = c.ports.find((p) => p.name === 'metrics');
  assert.equal(port.containerPort, 9464);
  for (const [probe, p] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
    assert.equal(c[probe].httpGet.path, p);
    assert.ok(c[probe].httpGet.port === 'metrics' || c[probe].httpGet.port === 9464);
  }
});

test('Deployment: requests and limits for cpu and memory', () => {
  const r = container().resources;
  for (const k of ['cpu', 'memory']) {
    assert.ok(r.requests[k], `requests.${k}`);
    assert.ok(r.limits[k], `limits.${k}`);
  }
});

test('Deployment: no service links, SASL password from the Secret', () => {
  assert.equal(podSpec().enableServiceLinks, false);
  const env = Object.fromEntries(container().env.map((e) => [e.name, e]));
  const pw = env.WSFLYTE_KAFKA_PROPERTIES_SASL_PASSWORD.valueFrom.secretKeyRef;
  assert.equal(pw.name, 'wsflyte');
  for (const e of container().env) assert.equal(e.value, undefined, `${e.name}: no literal values in env`);
});

test('Deployment: the ServiceAccount exists and the config and secrets are mounted where the config says', () => {
  const pod = podSpec();
  assert.equal(one('ServiceAccount').metadata.name, pod.serviceAccountName);
  const mounts = Object.fromEntries(container().volumeMounts.map((m) => [m.name, m]));
  const vols = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
  const cfgVol = Object.values(vols).find((v) => v.configMap);
  assert.equal(cfgVol.configMap.name, one('ConfigMap').metadata.name);
  assert.equal(mounts[cfgVol.name].mountPath, '/etc/wsflyte');
  assert.deepEqual(container().args, ['--config', '/etc/wsflyte/config.yaml']);
  const config = YAML.parse(one('ConfigMap').data['config.yaml']);
  const secretVol = Object.values(vols).find((v) => v.secret);
  const secretDir = mounts[secretVol.name].mountPath;
  const files = secretVol.secret.items.map((i) => `${secretDir}/${i.path}`);
  assert.ok(files.includes(config.flyte.auth.client_secret_file), 'the Flyte client secret file is mounted');
  assert.ok(files.includes(config.kafka.properties['ssl.ca.location']), 'the Kafka CA is mounted');
  assert.equal(config.observability.listen.split(':').pop(), '9464');
  assert.equal(config.schemas.directory, '/usr/share/wsflyte/schemas');
  for (const k of Object.keys(config.kafka.properties)) assert.doesNotMatch(k, /password|secret/i, `no secret in the ConfigMap: ${k}`);
});

// ---- group membership ----

// Why a workload's group membership would stall a rollout, or [].  A static
// member (group.instance.id) never leaves the group (KIP-345): its partitions
// wait session.timeout.ms for it.  Only a StatefulSet's pod name comes back
// with the replacement pod; a Deployment's (or DaemonSet's) does not, and one
// id for every replica (in the ConfigMap) makes the replicas fence each other.
function membershipProblems(workload, config) {
  const problems = [];
  const containers = workload.spec.template.spec.containers;
  const env = containers.flatMap((c) => c.env || []).find((e) => e.name === 'WSFLYTE_KAFKA_PROPERTIES_GROUP_INSTANCE_ID');
  if (config.kafka.properties?.['group.instance.id'] !== undefined) problems.push('group.instance.id is set in the ConfigMap: every replica would claim one id');
  if (containers.some((c) => (c.envFrom || []).length)) problems.push('envFrom could set group.instance.id unseen');
  if (env && workload.kind !== 'StatefulSet') {
    const from = env.valueFrom?.fieldRef?.fieldPath ?? (env.value !== undefined ? 'a literal' : 'a reference');
    problems.push(`${workload.kind} with group.instance.id from ${from}: a replacement pod joins under another id, ` +
      'so every rollout step leaves the old pod\'s partitions unconsumed for session.timeout.ms');
  }
  if (env && workload.kind === 'StatefulSet' && env.valueFrom?.fieldRef?.fieldPath !== 'metadata.name') problems.push('a StatefulSet\'s group.instance.id must be its pod name');
  return problems;
}

const shippedConfig = () => YAML.parse(one('ConfigMap').data['config.yaml']);
const withInstanceId = (w, valueFrom) => {
  const copy = structuredClone(w);
  copy.spec.template.spec.containers[0].env.push({ name: 'WSFLYTE_KAFKA_PROPERTIES_GROUP_INSTANCE_ID', valueFrom });
  return copy;
};

test('group membership: no workload joins with an id its replacement does not keep', () => {
  const workloads = [...byKind('Deployment'), ...byKind('StatefulSet'), ...byKind('DaemonSet')];
  assert.ok(workloads.length >= 1);
  for (const w of workloads) assert.deepEqual(membershipProblems(w, shippedConfig()), [], `${w.kind}/${w.metadata.name}`);
});

test('group membership: the check refuses the old Deployment with the pod name as group.instance.id, and allows it on a StatefulSet', () => {
  const podName = { fieldRef: { fieldPath: 'metadata.name' } };
  const old = withInstanceId(deployment(), podName);
  assert.match(membershipProblems(old, shippedConfig()).join('\n'), /^Deployment with group\.instance\.id from metadata\.name: /);
  const sts = { ...withInstanceId(deployment(), podName), kind: 'StatefulSet' };
  assert.deepEqual(membershipProblems(sts, shippedConfig()), []);
  const uid = { ...withInstanceId(deployment(), { fieldRef: { fieldPath: 'metadata.uid' } }), kind: 'StatefulSet' };
  assert.equal(membershipProblems(uid, shippedConfig()).length, 1, 'a StatefulSet pod\'s uid changes too');
  const config = shippedConfig();
  config.kafka.properties['group.instance.id'] = 'wsflyte';
  assert.equal(membershipProblems(deployment(), config).length, 1);
});

test('group membership: a crashed replica is noticed within 30 s (session.timeout.ms), heartbeats at most a third of it', () => {
  const props = shippedConfig().kafka.properties;
  const session = Number(props['session.timeout.ms'] ?? 45000);
  const heartbeat = Number(props['heartbeat.interval.ms'] ?? 3000);
  assert.ok(session >= 6000 && session <= 30000, `session.timeout.ms ${session}: brokers refuse < 6000 by default`);
  assert.ok(heartbeat * 3 <= session, `heartbeat.interval.ms ${heartbeat}`);
});

// ---- PDB, Service ----

test('PodDisruptionBudget selects the Deployment pods and keeps 2 of 3', () => {
  const pdb = one('PodDisruptionBudget');
  assert.deepEqual(pdb.spec.selector.matchLabels, deployment().spec.selector.matchLabels);
  assert.ok(pdb.spec.maxUnavailable === 1 || pdb.spec.minAvailable === 2);
});

test('the metrics Service selects the pods and targets the metrics port', () => {
  const svc = one('Service');
  const labels = deployment().spec.template.metadata.labels;
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(labels[k], v);
  const p = svc.spec.ports.find((x) => x.name === 'metrics');
  assert.equal(p.port, 9464);
  assert.ok(p.targetPort === 'metrics' || p.targetPort === 9464);
});

// ---- RBAC ----

const WORKSPACE_ROLES = ['workspace-owner', 'workspace-contributor', 'workspace-viewer'];

function allows(rules, group, resource, verb, name) {
  return rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb)
    && (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))));
}

test('ClusterRole: no wildcards, no secrets, no pods', () => {
  const { rules } = one('ClusterRole');
  for (const r of rules) {
    for (const f of ['apiGroups', 'resources', 'verbs', 'resourceNames']) {
      for (const v of r[f] || []) assert.ok(!v.includes('*'), `wildcard in ${f}: ${v}`);
    }
    for (const forbidden of ['secrets', 'pods', 'clusterroles', 'clusterrolebindings', 'impersonate']) {
      assert.ok(!r.resources.includes(forbidden), `no ${forbidden}`);
    }
    assert.ok(!r.verbs.includes('impersonate') && !r.verbs.includes('update') && !r.verbs.includes('deletecollection'));
  }
});

test('ClusterRole: what the provisioner does, and nothing broader', () => {
  const { rules } = one('ClusterRole');
  const needed = [
    ['', 'namespaces'], ['', 'resourcequotas'], ['', 'limitranges'], ['', 'serviceaccounts'], ['', 'configmaps'],
    ['networking.k8s.io', 'networkpolicies'], ['rbac.authorization.k8s.io', 'roles'],
    ['rbac.authorization.k8s.io', 'rolebindings'], ['iam.services.k8s.aws', 'roles'], ['iam.services.k8s.aws', 'policies'],
  ];
  for (const [g, res] of needed) {
    // watch: the drift watch (reconcile.watch) lists and watches every managed kind.
    for (const v of ['get', 'list', 'watch', 'create', 'patch', 'delete']) assert.ok(allows(rules, g, res, v), `${v} ${g}/${res}`);
  }
  // bind and escalate only on the three workspace roles, by name.
  for (const v of ['bind', 'escalate']) {
    for (const name of WORKSPACE_ROLES) assert.ok(allows(rules, 'rbac.authorization.k8s.io', 'roles', v, name), `${v} ${name}`);
    assert.ok(!allows(rules, 'rbac.authorization.k8s.io', 'roles', v, 'admin'), `${v} is restricted by name`);
    assert.ok(!allows(rules, 'rbac.authorization.k8s.io', 'clusterroles', v, 'cluster-admin'));
  }
  const granted = new Set(rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}`))));
  assert.deepEqual([...granted].sort(), needed.map(([g, r]) => `${g}/${r}`).sort());
});

test('ClusterRoleBinding binds the ClusterRole to the ServiceAccount', () => {
  const b = one('ClusterRoleBinding');
  const sa = one('ServiceAccount');
  assert.deepEqual(b.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: one('ClusterRole').metadata.name });
  assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
});

// ---- Strimzi KafkaTopics (no published schema in kubernetes-models: checked here) ----

function expectedTopics(config) {
  const ev = config.kafka.topics.events;
  const g = config.kafka.group_id;
  return [ev, config.kafka.topics.results, ...config.retry.tiers.map((t) => `${ev}.${g}.retry-${t}`), `${ev}.${g}.state`,
    `${ev}.${g}.dlt`];
}

test('KafkaTopics: valid objects, one per contract topic, same partitions, longer retention for the DLT, a compacted state topic', () => {
  const topics = byKind('KafkaTopic');
  const config = YAML.parse(one('ConfigMap').data['config.yaml']);
  const names = [];
  let partitions = null;
  const retention = {};
  for (const t of topics) {
    const where = `KafkaTopic ${t.metadata?.name}`;
    assert.equal(t.apiVersion, 'kafka.strimzi.io/v1beta2', where);
    assert.deepEqual(Object.keys(t).sort(), ['apiVersion', 'kind', 'metadata', 'spec'], where);
    assert.match(t.metadata.name, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, `${where}: metadata.name`);
    assert.ok(t.metadata.labels['strimzi.io/cluster'], `${where}: strimzi.io/cluster label`);
    const allowed = ['topicName', 'partitions', 'replicas', 'config'];
    for (const k of Object.keys(t.spec)) assert.ok(allowed.includes(k), `${where}: spec.${k}`);
    assert.ok(Number.isInteger(t.spec.partitions) && t.spec.partitions >= 1, `${where}: partitions`);
    assert.ok(Number.isInteger(t.spec.replicas) && t.spec.replicas >= 1 && t.spec.replicas <= 32767, `${where}: replicas`);
    const name = t.spec.topicName ?? t.metadata.name;
    assert.match(name, /^[a-zA-Z0-9._-]{1,249}$/, `${where}: Kafka topic name`);
    partitions ??= t.spec.partitions;
    assert.equal(t.spec.partitions, partitions, `${where}: same partition count as the others`);
    assert.ok(Number(t.spec.config['min.insync.replicas']) < t.spec.replicas, `${where}: min.insync.replicas`);
    names.push(name);
    if (name.endsWith('.state')) {
      // The state topic keeps the newest record per workspace for good.
      assert.equal(t.spec.config['cleanup.policy'], 'compact', `${where}: cleanup.policy`);
      assert.equal(t.spec.config['retention.ms'], undefined, `${where}: no time-based retention`);
      continue;
    }
    const ms = Number(t.spec.config['retention.ms']);
    assert.ok(Number.isInteger(ms) && ms > 0, `${where}: retention.ms`);
    retention[name] = ms;
  }
  const want = expectedTopics(config);
  assert.deepEqual(names.sort(), [...want].sort());
  const dlt = want.at(-1);
  assert.ok(retention[dlt] >= 30 * 86400 * 1000, 'the DLT keeps 30 days');
  for (const n of Object.keys(retention)) if (n !== dlt) assert.ok(retention[n] < retention[dlt], `${n} keeps less than the DLT`);
});

// ---- Dockerfile ----

test('Dockerfile: multi-stage on debian:bookworm-slim, runtime without -dev packages, non-root, schemas', () => {
  const text = fs.readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2);
  for (const s of stages) assert.match(s, /^debian:bookworm-slim\b/);
  const runtime = stages[1];
  assert.doesNotMatch(runtime, /-dev\b|build-essential|cmake/);
  assert.match(runtime, /^USER (\d+)(:\d+)?$/m);
  assert.notEqual(/^USER (\d+)/m.exec(runtime)[1], '0');
  assert.match(runtime, /COPY schemas\/ \/usr\/share\/wsflyte\/schemas\//);
  assert.match(runtime, /ENTRYPOINT \["\/usr\/local\/bin\/wsflyte"\]/);
  const uid = Number(/^USER (\d+)/m.exec(runtime)[1]);
  assert.equal(podSpec().securityContext.runAsUser, uid, 'the pod runs as the image user');
});

// ---- the ConfigMap's configuration, checked by wsflyte itself ----

test('the ConfigMap passes wsflyte --check-config, without group.instance.id', { skip: !process.env.WSFLYTE_BUILD_DIR && 'WSFLYTE_BUILD_DIR not set' }, async () => {
  const { execFileSync } = await import('node:child_process');
  const os = await import('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflyte-deploy-'));
  try {
    const file = path.join(dir, 'config.yaml');
    fs.writeFileSync(file, one('ConfigMap').data['config.yaml']);
    const out = execFileSync(path.join(process.env.WSFLYTE_BUILD_DIR, 'wsflyte'), ['--config', file, '--check-config'], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        // the image's schema folder does not exist here
        WSFLYTE_SCHEMAS_DIRECTORY: path.join(ROOT, 'schemas'),
        WSFLYTE_KAFKA_PROPERTIES_SASL_PASSWORD: 'pw-never-printed',
      },
    });
    assert.doesNotMatch(out, /group\.instance\.id/);
    assert.match(out, /session\.timeout\.ms: "10000"/);
    assert.doesNotMatch(out, /pw-never-printed/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
