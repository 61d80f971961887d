// `make demo`: runs the whole local stack (wsflyte-devkafka, the FlyteAdmin
// and Kubernetes test servers, wsflyte), publishes the seed's two
// workspaces, prints the result events and what now exists, then stops
// everything it started.  `make demo REGISTRY=1` (WSFLYTE_DEMO_REGISTRY=1)
// adds the Schema Registry test server: the platform's event schema is
// registered there, and wsflyte registers its result schema at start-up
// (schemas.auto_register).
import { join } from 'node:path';
import { Stack, ROOT, startRegistry } from '../tests/integration/harness.mjs';

const t0 = Date.now();
const say = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
const withRegistry = /^(1|yes|true)$/.test(process.env.WSFLYTE_DEMO_REGISTRY || '');
let registry = null;
const stack = new Stack({
  editConfig: (doc) => {
    if (!registry) return;
    doc.schemas.registry_url = registry.url;
    doc.schemas.auto_register = true;
  },
});
let exitCode = 1;

try {
  if (withRegistry) {
    registry = await startRegistry(['--register',
      `workspace.lifecycle.v1-value=${join(ROOT, 'schemas/workspace_lifecycle_event.avsc')}`]);
    say(`Schema Registry test server at ${registry.url} (the event schema registered)`);
  }
  await stack.start();
  say(`wsflyte-devkafka at ${stack.bootstrap}`);
  say(`FlyteAdmin test server at ${stack.flyteUrl}, Kubernetes test server at ${stack.kubeUrl}`);
  const consumer = stack.startConsumer();
  say('wsflyte started; publishing the seed workspaces (Avro, keyed by workspace_id)');
  const produced = await stack.produce(join(ROOT, 'tests/data/events/seed.jsonl'), 'avro');
  process.stdout.write(produced.stderr);
  if (produced.code !== 0) throw new Error('wsflyte-produce failed');

  const results = await stack.results(2, 90);
  say(`result events on workspace.provisioning.v1 (${results.length}):`);
  for (const r of results) console.log('  ' + JSON.stringify(r));
  if (registry) {
    const { subjects } = await (await fetch(`${registry.url}/_test/state`)).json();
    console.log('\nSchema Registry subjects (schema ids by version):');
    for (const [subject, ids] of Object.entries(subjects)) console.log(`  ${subject.padEnd(34)} ${ids.join(', ')}`);
  }

  const flyte = await stack.flyteState();
  const kube = await stack.kubeState();
  console.log('\nFlyte projects:');
  for (const p of flyte.projects)
    console.log(`  ${p.id.padEnd(18)} ${p.state.padEnd(9)} "${p.name}"  version ${p.labels?.values?.['wsflyte-workspace-version']}`);
  console.log('\nFlyte execution settings (WORKFLOW_EXECUTION_CONFIG per domain):');
  for (const a of flyte.attributes) {
    const wec = a.attributes.workflow_execution_config;
    console.log(`  ${a.project}/${a.domain.padEnd(12)} runs as ${wec.security_context.run_as.k8s_service_account}, outputs ${wec.raw_output_data_config.output_location_prefix}`);
  }
  console.log('\nKubernetes namespaces (managed by wsflyte):');
  const managed = kube.objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'wsflyte');
  for (const ns of managed.filter((o) => o.kind === 'Namespace')) {
    const inNs = managed.filter((o) => o.metadata.namespace === ns.metadata.name);
    const quota = inNs.find((o) => o.kind === 'ResourceQuota');
    const hard = quota ? Object.entries(quota.spec.hard).map(([k, v]) => `${k}=${v}`).join(' ') : '-';
    console.log(`  ${ns.metadata.name}`);
    console.log(`    quota       ${hard}`);
    console.log(`    policy      ${inNs.filter((o) => o.kind === 'NetworkPolicy').map((o) => o.metadata.name).join(', ')}`);
    console.log(`    roles       ${inNs.filter((o) => o.kind === 'Role').map((o) => o.metadata.name).join(', ')}`);
    const bindings = inNs.filter((o) => o.kind === 'RoleBinding').map((b) => `${b.subjects[0].name}→${b.roleRef.name.replace('workspace-', '')}`);
    console.log(`    bindings    ${bindings.join(', ')}`);
  }
  const cms = managed.filter((o) => o.kind === 'ConfigMap');
  console.log(`\nAuthorization data for the Flyte proxy: ${cms.map((c) => `${c.metadata.namespace}/${c.metadata.name}`).join(', ')}`);

  const code = await stack.stopConsumer(consumer);
  say(`wsflyte stopped (exit ${code}) after committing its offsets`);
  const ok = results.length === 2 && results.every((r) => r.status === 'SUCCEEDED');
  say(ok ? 'demo finished: both workspaces provisioned' : 'demo FAILED: see the results above');
  exitCode = ok && code === 0 ? 0 : 1;
} catch (e) {
  console.error(`demo failed: ${e.message}`);
  console.error(stack.logs.join('').slice(-4000));
} finally {
  await stack.stop();
  await registry?.stop();
  say('stopped everything the demo started');
}
process.exit(exitCode);
