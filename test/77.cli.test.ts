// The `dmabuf` command's conventions: --help everywhere, usage errors with the library's
// codes and exit 2 (JSON with --json), colours only on a terminal and never with NO_COLOR;
// `dmabuf vm` in front of a harness (a stand-in here: no guest boots in the host suite);
// `dmabuf bench` from a package that does not ship the benchmarks.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytes, colours, printable, table } from '../lib/cli/common';
import { projectRoot } from '../lib/cli/vm';

const REPO = join(__dirname, '..', '..');
const CLI = join(REPO, 'dist', 'lib', 'cli', 'index.js');

/** apt-get and dpkg-deb, and qemu or a way to install it: what `dmabuf vm` checks before it starts the harness. */
const harnessHost = () =>
  spawnSync(
    'sh',
    ['-c', 'command -v apt-get && command -v dpkg-deb && { command -v qemu-system-x86_64 || [ "$(id -u)" = 0 ] || command -v sudo; }'],
    {
      stdio: 'ignore',
    },
  ).status === 0;

function run(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; cli?: string } = {}) {
  const r = spawnSync(process.execPath, [opts.cli ?? CLI, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('77 the dmabuf command', () => {
  it('is the package.json bin, with a shebang', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string>; files: string[] };
    assert.deepEqual(pkg.bin, { dmabuf: 'dist/lib/cli/index.js' });
    assert.match(readFileSync(CLI, 'utf8'), /^#!\/usr\/bin\/env node\n/);
    for (const f of ['ci/vm/vm.js', 'ci/vm/init.sh', 'ci/vm/README.md']) assert.ok(pkg.files.includes(f), `files lists ${f}`);
  });

  it('--help on every command, exit 0; no command or an unknown one: usage, exit 2', () => {
    const top = run(['--help']);
    assert.equal(top.status, 0);
    for (const cmd of ['doctor', 'ls', 'vm', 'bench']) {
      assert.match(top.stdout, new RegExp(`^  ${cmd} `, 'm'));
      const h = run([cmd, '--help']);
      assert.equal(h.status, 0, h.stderr);
      assert.match(h.stdout, new RegExp(`^usage: dmabuf ${cmd}`));
      assert.match(h.stdout, /exit status/);
    }
    assert.equal(run([]).status, 2);
    const unknown = run(['frobnicate']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /ERR_INVALID_ARG_VALUE: unknown command 'frobnicate'/);
    assert.match(run(['--version']).stdout, /^\d+\.\d+\.\d+/);
  });

  it('a bad option: the library code, exit 2; as JSON with --json', () => {
    const text = run(['doctor', '--frob']);
    assert.equal(text.status, 2);
    assert.match(text.stderr, /^dmabuf doctor: ERR_INVALID_ARG_VALUE: Unknown option '--frob'/);
    const json = run(['ls', '--json', '--pid', 'abc']);
    assert.equal(json.status, 2);
    assert.deepEqual(JSON.parse(json.stdout), {
      error: { code: 'ERR_INVALID_ARG_VALUE', message: "--pid takes a process id, not 'abc' (see dmabuf ls --help)" },
    });
  });

  it('colours only on a terminal, never with NO_COLOR or --no-color', () => {
    assert.equal(colours({ isTTY: true }, {}).on, true);
    assert.equal(colours({ isTTY: true }, { NO_COLOR: '' }).on, false);
    assert.equal(colours({ isTTY: true }, { NO_COLOR: '1' }).on, false);
    assert.equal(colours({ isTTY: true }, {}, true).on, false);
    assert.equal(colours({ isTTY: false }, {}).on, false);
    assert.equal(colours({ isTTY: true }, { TERM: 'dumb' }).on, false);
    assert.equal(colours({ isTTY: true }, {}).red('x'), '\x1b[31mx\x1b[39m');
    assert.ok(!run(['doctor']).stdout.includes('\x1b['), 'piped: no colours');
  });

  it('formats sizes, tables and names with control characters', () => {
    assert.deepEqual([bytes(0), bytes(1536), bytes(64 << 20), bytes(460800)], ['0 B', '1.5 KiB', '64 MiB', '450 KiB']);
    assert.equal(printable('a\nb\tc\x01'), 'a\\nb\\tc\\x01');
    assert.equal(
      table(
        [
          ['A', 'BB'],
          ['ccc', 'd'],
        ],
        [1],
      ),
      'A    BB\nccc   d',
    );
  });

  describe('vm', () => {
    it('needs a command after --, and a known architecture', () => {
      const none = run(['vm']);
      assert.equal(none.status, 2);
      assert.match(none.stderr, /no command: put it after --/);
      const arch = run(['vm', '--arch', 'sparc', '--', 'true']);
      assert.equal(arch.status, 2);
      assert.match(arch.stderr, /--arch takes x64 or arm64/);
    });

    it('the project root is the nearest directory with a package.json', () => {
      assert.equal(projectRoot(join(REPO, 'lib', 'cli')), REPO);
    });

    describe('in front of the harness (a stand-in vm.js)', () => {
      let pkg = '';
      before(() => {
        // An installed package: dist/lib, package.json and a ci/vm/vm.js that plays the harness.
        pkg = mkdtempSync(join(tmpdir(), 'dmabuf-pkg-'));
        cpSync(join(REPO, 'dist', 'lib'), join(pkg, 'dist', 'lib'), { recursive: true });
        cpSync(join(REPO, 'package.json'), join(pkg, 'package.json'));
        symlinkSync(join(REPO, 'node_modules'), join(pkg, 'node_modules'));
        mkdirSync(join(pkg, 'ci', 'vm'), { recursive: true });
        writeFileSync(
          join(pkg, 'ci', 'vm', 'vm.js'),
          [
            'const a = process.argv.slice(2);',
            "process.stderr.write('dmabuf vm: booting linux-image-6.12.117+deb12-amd64 6.12.117-1~deb12u1 (tcg, 2048 MiB): ' + a.join(' ') + '\\n');",
            "if (a.includes('--kernel') && a[a.indexOf('--kernel') + 1] === '9.9') { process.stderr.write('dmabuf vm: apt knows no linux-image-9.9.*-amd64 package\\n'); process.exit(125); }",
            "process.stdout.write(JSON.stringify({ argv: a, root: process.env.DMABUF_VM_ROOT }) + '\\n');",
            'process.exit(7);',
          ].join('\n'),
        );
      });
      after(() => rmSync(pkg, { recursive: true, force: true }));
      const cli = () => join(pkg, 'dist', 'lib', 'cli', 'index.js');

      it("passes the options through, shares the caller's project, and exits with the command's status", function () {
        if (!harnessHost()) this.skip();
        const project = mkdtempSync(join(tmpdir(), 'dmabuf-project-'));
        try {
          writeFileSync(join(project, 'package.json'), '{}');
          const passed = [
            '--kernel',
            '6.1',
            '--append',
            'udmabuf.size_limit_mb=512',
            '--timeout',
            '600',
            '--',
            'node',
            'test/rig.js',
            '--frames',
            '3',
          ];
          mkdirSync(join(project, 'test'));
          const r = run(['vm', ...passed], {
            cli: cli(),
            cwd: join(project, 'test'),
          });
          assert.equal(r.status, 7, r.stderr);
          const seen = JSON.parse(r.stdout) as { argv: string[]; root: string };
          assert.deepEqual(seen.argv, passed);
          assert.equal(seen.root, project);
          assert.match(r.stderr, /dmabuf vm: booting linux-image-6\.12/, 'off a terminal, the harness lines are the progress');
          assert.match(r.stderr, /note: dmabuf itself .* is outside the shared tree/);
        } finally {
          rmSync(project, { recursive: true, force: true });
        }
      });

      it('--arch aarch64 reaches the harness as --arch arm64', function () {
        if (!harnessHost()) this.skip();
        const r = run(['vm', '--arch', 'aarch64', '--', 'true'], { cli: cli(), cwd: pkg });
        assert.equal(r.status, 7, r.stderr);
        assert.deepEqual((JSON.parse(r.stdout) as { argv: string[] }).argv, ['--arch', 'arm64', '--', 'true']);
      });

      it('adds what to do when the kernel package cannot be had', function () {
        if (!harnessHost()) this.skip();
        const r = run(['vm', '--kernel', '9.9', '--', 'true'], { cli: cli(), cwd: pkg });
        assert.equal(r.status, 125);
        assert.match(r.stderr, /bookworm-security/);
      });

      it('bench: the package does not ship the benchmarks, and says where they are', () => {
        const r = run(['bench'], { cli: cli() });
        assert.equal(r.status, 2);
        assert.match(r.stderr, /ERR_DMABUF_UNAVAILABLE: the benchmarks are not part of the npm package.*npm run bench/);
      });
    });
  });
});
