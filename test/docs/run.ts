// npm run test:docs — runs every example in README.md and docs/*.md as a user would.
//
// How to write an example so that it runs here
// --------------------------------------------
// Every fenced block whose language is `js`, `mjs` or `ts` is a complete program: it
// loads the package (`require('dmabuf')` or `import … from 'dmabuf'`), defines every
// name it uses, and ends by itself (close channels, servers and devices). `js` is
// CommonJS on Node 20: no top-level await (use an async main) and no `using` (that
// needs TypeScript). `ts` is compiled with
//   tsc --strict --target es2022 --module commonjs --lib es2022,esnext.disposable --types node
// A fragment that is not a program (a signature, an options object, output, a shell
// command) gets another language: ```text, ```sh. `javascript`, `typescript`, `cjs`,
// `tsx`… are refused, so nothing escapes by its spelling. More words after the language:
//   vm           needs a real kernel (udmabuf, dma-heap, vgem, vivid): runs in the QEMU
//                guest (ci/vm/vm.js), all such programs in one boot
//   file=<name>  one file of a multi-file program: consecutive file= blocks under the same
//                heading are written side by side into one directory (a parent and its
//                child, a worker); a heading or a block without file= ends the program
//   run          the file= block that is started (exactly one per program)
// e.g. ```js file=parent.js run  …  ```js file=child.js
//
// Each program is written to .docs-tmp/<doc>-<line>/ (inside the tree, so the guest sees
// it), where `dmabuf` resolves to this checkout (.docs-tmp/node_modules/dmabuf → ..),
// run with this node and a time limit, and reported by its markdown line.
//
//   node dist/test/docs/run.js              host programs, then the vm ones in one boot
//   node dist/test/docs/run.js --host-only  skip the vm programs
//   node dist/test/docs/run.js --keep       keep .docs-tmp (it is removed after a clean run)
//   node dist/test/docs/run.js --verbose    print every program's output, not only a failure's
//   DMABUF_DOCS_TIMEOUT=<s>                 per-program limit (30 s on the host, 180 s in the guest)
//   node dist/test/docs/run.js --in-vm <id…>   (the guest side: run prepared programs)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { extractDocs, type DocProgram } from './extract';

const ROOT = resolve(__dirname, '..', '..', '..');
const TMP = join(ROOT, '.docs-tmp');
const VM_RESULTS = join(TMP, 'vm-results.json');
const inGuest = process.env.DMABUF_VM_GUEST === '1';
const TIMEOUT_MS = Number(process.env.DMABUF_DOCS_TIMEOUT ?? (inGuest ? 180 : 30)) * 1000;
export const TSC_FLAGS = ['--strict', '--target', 'es2022', '--module', 'commonjs', '--lib', 'es2022,esnext.disposable', '--types', 'node'];

interface Result {
  id: string;
  where: string;
  files: string;
  vm: boolean;
  ok: boolean;
  ms: number;
  output: string;
}

const label = (p: DocProgram) => p.files.map((f) => f.name).join(' + ');

/** Runs a command, collecting its output; kills its process group at the time limit. */
function exec(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ ok: boolean; output: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const add = (d: Buffer) => (output = (output + d.toString()).slice(-20000));
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      done({ ok: false, output: `${output}${err.message}\n`, ms: Date.now() - t0 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const why = timedOut ? `timed out after ${timeoutMs / 1000} s` : code !== 0 ? `exit ${code ?? signal}` : '';
      done({ ok: !why, output: why ? `${output}[${why}]\n` : output, ms: Date.now() - t0 });
    });
  });
}

/** Writes every program into .docs-tmp, with dmabuf resolving to this checkout. */
function prepare(programs: DocProgram[]): void {
  rmSync(TMP, { recursive: true, force: true });
  mkdirSync(join(TMP, 'node_modules'), { recursive: true });
  writeFileSync(join(TMP, 'package.json'), JSON.stringify({ name: 'dmabuf-docs', private: true }) + '\n');
  symlinkSync('../..', join(TMP, 'node_modules', 'dmabuf')); // relative: the guest mounts the tree at the same path
  for (const p of programs) {
    const dir = join(TMP, p.id);
    mkdirSync(dir);
    for (const f of p.files) writeFileSync(join(dir, f.name), f.code);
    writeFileSync(join(dir, 'program.json'), JSON.stringify(p, null, 2) + '\n');
  }
}

/** Compiles a TypeScript program in place, as the README shows. */
async function compile(p: DocProgram): Promise<{ ok: boolean; output: string; ms: number }> {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const ts = p.files.filter((f) => f.lang === 'ts').map((f) => f.name);
  return exec(process.execPath, [tsc, ...TSC_FLAGS, ...ts], join(TMP, p.id), 120_000);
}

async function runOne(p: DocProgram): Promise<Result> {
  const base = { id: p.id, where: `${p.doc}:${p.line}`, files: label(p), vm: p.vm };
  const r = await exec(process.execPath, [p.main], join(TMP, p.id), TIMEOUT_MS);
  return { ...base, ...r };
}

const verbose = process.argv.includes('--verbose');

function report(r: Result): void {
  const head = `${r.ok ? 'ok  ' : 'FAIL'} ${r.where.padEnd(16)} ${(r.vm ? '[vm] ' : '') + r.files}  ${(r.ms / 1000).toFixed(1)} s`;
  console.log(head);
  if ((!r.ok || verbose) && r.output.trim()) console.log(r.output.trimEnd().replace(/^/gm, '     | '));
}

/** Guest side: the programs were prepared (and compiled) on the host. */
async function inVm(ids: string[]): Promise<number> {
  const results: Result[] = [];
  for (const id of ids) {
    const p = JSON.parse(readFileSync(join(TMP, id, 'program.json'), 'utf8')) as DocProgram;
    const r = await runOne(p);
    report(r);
    results.push(r);
  }
  writeFileSync(VM_RESULTS, JSON.stringify(results) + '\n');
  return results.every((r) => r.ok) ? 0 : 1;
}

async function host(args: string[]): Promise<number> {
  const { blocks, programs, problems } = extractDocs(ROOT);
  console.log(
    `docs: ${blocks.length} blocks, ${programs.length} programs (${programs.filter((p) => p.vm).length} need the vm); node ${process.version}`,
  );
  if (problems.length) {
    for (const p of problems) console.log(`FAIL ${p}`);
    console.log(`docs: ${problems.length} block(s) are not runnable programs; see the top of test/docs/run.ts`);
    return 1;
  }
  prepare(programs);
  const results: Result[] = [];
  const compiled = new Map<string, boolean>();
  for (const p of programs.filter((q) => q.ts)) {
    const c = await compile(p);
    compiled.set(p.id, c.ok);
    if (!c.ok)
      results.push({ id: p.id, where: `${p.doc}:${p.line}`, files: label(p), vm: p.vm, ms: c.ms, ok: false, output: `tsc:\n${c.output}` });
  }
  for (const r of results) report(r);
  for (const p of programs.filter((q) => !q.vm && compiled.get(q.id) !== false)) {
    const r = await runOne(p);
    report(r);
    results.push(r);
  }
  const vm = programs.filter((q) => q.vm && compiled.get(q.id) !== false);
  if (vm.length && args.includes('--host-only')) console.log(`docs: skipped ${vm.length} vm program(s) (--host-only)`);
  else if (vm.length) {
    console.log(`docs: ${vm.length} vm program(s) in one boot: ${vm.map((p) => `${p.doc}:${p.line}`).join(', ')}`);
    const t0 = Date.now();
    const cmd = ['node', 'dist/test/docs/run.js', ...(verbose ? ['--verbose'] : []), '--in-vm', ...vm.map((p) => p.id)];
    const st = spawnSync(process.execPath, [join(ROOT, 'ci', 'vm', 'vm.js'), '--', ...cmd], { cwd: ROOT, stdio: 'inherit' });
    const got: Result[] = existsSync(VM_RESULTS) ? (JSON.parse(readFileSync(VM_RESULTS, 'utf8')) as Result[]) : [];
    console.log(`docs: vm exit ${st.status ?? st.signal} after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    for (const p of vm) {
      const r = got.find((g) => g.id === p.id);
      results.push(
        r ?? {
          id: p.id,
          where: `${p.doc}:${p.line}`,
          files: label(p),
          vm: true,
          ok: false,
          ms: 0,
          output: `no result from the guest (vm exit ${st.status})`,
        },
      );
      if (!r) report(results[results.length - 1]);
    }
  }
  const failed = results.filter((r) => !r.ok);
  const ran = results.length;
  console.log(
    `docs: ${ran - failed.length}/${ran} programs passed (${results.filter((r) => !r.vm && r.ok).length} host, ${results.filter((r) => r.vm && r.ok).length} vm)` +
      (failed.length ? `; failed: ${failed.map((r) => r.where).join(', ')}` : ''),
  );
  if (!failed.length && !args.includes('--keep')) rmSync(TMP, { recursive: true, force: true });
  else console.log(`docs: programs kept in ${TMP}`);
  return failed.length ? 1 : 0;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--in-vm');
  (i >= 0 ? inVm(args.slice(i + 1)) : host(args)).then(
    (code) => (process.exitCode = code),
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
