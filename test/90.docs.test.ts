// The README's examples: the docs runner (test/docs/run.ts, `npm run test:docs`) finds every
// one, and every js/mjs/ts block is a program it runs. A fragment in a js block fails here,
// on the host, before anything runs: give it a fence language such as text.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { extract, extractDocs } from './docs/extract';

const ROOT = join(__dirname, '..', '..');

// Update these when you add or remove an example (and check `npm run test:docs` runs it).
const EXPECTED = { blocks: 17, programs: 13, vm: 4, multiFile: 4, ts: 2 };

describe('90 docs: every example in README.md and docs/*.md is a program the docs runner runs', () => {
  const docs = extractDocs(ROOT);

  it('has no block the runner refuses (fragments in js, using in js, top-level await in CommonJS, …)', () => {
    assert.deepEqual(docs.problems, []);
  });

  it('finds the expected number of blocks and programs', () => {
    assert.deepEqual(
      {
        blocks: docs.blocks.length,
        programs: docs.programs.length,
        vm: docs.programs.filter((p) => p.vm).length,
        multiFile: docs.programs.filter((p) => p.files.length > 1).length,
        ts: docs.programs.filter((p) => p.ts).length,
      },
      EXPECTED,
    );
  });

  it('puts every block in exactly one program, and runs one of its files', () => {
    const inPrograms = docs.programs.flatMap((p) => p.files.map((f) => `${p.doc}:${f.line}`));
    assert.deepEqual(inPrograms.sort(), docs.blocks.map((b) => `${b.doc}:${b.line}`).sort());
    for (const p of docs.programs)
      assert.ok(
        p.files.some((f) => f.name.replace(/\.ts$/, '.js') === p.main),
        `${p.id}: ${p.main}`,
      );
  });

  it('refuses an unmarked fragment, using in js, top-level await in CommonJS and a hidden language', () => {
    const md = [
      '# a',
      '```js',
      'buf.close(); // a fragment: it loads nothing',
      '```',
      '```js',
      "const { allocate } = require('dmabuf');",
      'using buf = allocate(4096);',
      '```',
      '```js',
      "const { connect } = require('dmabuf');",
      "await connect('/tmp/x.sock');",
      '```',
      '```javascript',
      "require('dmabuf');",
      '```',
      '```js vm fast',
      "require('dmabuf');",
      '```',
    ].join('\n');
    const e = extract(md, 'x.md');
    assert.equal(e.blocks.length, 4);
    const lines = e.problems.map((p) => p.split(':')[1]);
    assert.deepEqual(lines, ['2', '5', '9', '13', '16'], e.problems.join('\n'));
    assert.match(e.problems[0], /not a program/);
    assert.match(e.problems[1], /using/);
    assert.match(e.problems[2], /await/);
    assert.match(e.problems[3], /javascript/);
    assert.match(e.problems[4], /unknown attribute 'fast'/);
  });

  it('leaves text and sh blocks alone, and groups file= blocks by heading, one run each', () => {
    const js = (info: string) => [`\`\`\`${info}`, "require('dmabuf');", '```'];
    const md = [
      '# a',
      '```text',
      'allocate(size, { exporter })',
      '```',
      ...js('js file=parent.js run'),
      '```sh',
      'node parent.js',
      '```',
      ...js('js file=child.js'),
      '## b',
      ...js('js vm file=main.js'),
      ...js('js file=worker.js'),
      ...js('ts'),
    ].join('\n');
    const e = extract(md, 'x.md');
    assert.equal(e.others, 2);
    assert.deepEqual(
      e.programs.map((p) => [p.files.map((f) => f.name).join('+'), p.main, p.vm]),
      [
        ['parent.js+child.js', 'parent.js', false],
        ['main.js+worker.js', 'main.js', true],
        ['example.ts', 'example.js', false],
      ],
    );
    assert.deepEqual(e.problems.length, 1);
    assert.match(e.problems[0], /exactly one 'run' file, has 0/);
  });
});
