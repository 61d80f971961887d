// Every program answers --help (with examples) and --version, exit status 0,
// on stdout, without configuration or servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, bin, ROOT } from './harness.mjs';

const PROGRAMS = ['wsflyte', 'wsflyte-devkafka', 'wsflyte-produce', 'wsflyte-render', 'wsflyte-results', 'wsflyte-dlt', 'wsflyte-status', 'wsflyte-audit'];
const VERSION = /project\(wsflyte VERSION (\S+)/.exec(readFileSync(join(ROOT, 'CMakeLists.txt'), 'utf8'))[1];

for (const name of PROGRAMS) {
  test(`${name} answers --help and --version`, async () => {
    for (const flag of ['--help', '-h']) {
      const help = await run(bin(name), [flag]);
      assert.equal(help.code, 0, `${name} ${flag}: ${help.stderr}`);
      assert.equal(help.stderr, '', `${name} ${flag} writes nothing to stderr`);
      assert.match(help.stdout, new RegExp(`^Usage: ${name} `), `${name} ${flag} starts with its usage`);
      assert.match(help.stdout, /--help/);
      assert.match(help.stdout, /--version/, `${name} ${flag} mentions --version`);
      const examples = help.stdout.split(/\nExamples?:\n/)[1];
      assert.ok(examples, `${name} ${flag} has examples`);
      assert.match(examples, new RegExp(`^ {2}.*\\b${name}\\b`, 'm'), `${name}'s examples run ${name}`);
    }
    for (const flag of ['--version', '-V']) {
      const version = await run(bin(name), [flag]);
      assert.equal(version.code, 0, `${name} ${flag}: ${version.stderr}`);
      assert.equal(version.stdout, `${name} ${VERSION}\n`);
      assert.equal(version.stderr, '');
    }
  });
}

test('an unknown option is a usage error, on stderr', async () => {
  for (const name of PROGRAMS) {
    const r = await run(bin(name), ['--no-such-option']);
    assert.equal(r.code, 2, `${name}: exit status ${r.code}`);
    assert.match(r.stderr, /Usage: /, `${name} shows its usage`);
    assert.equal(r.stdout, '', `${name} writes nothing to stdout`);
  }
});
