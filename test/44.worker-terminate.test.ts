// worker.terminate() runs no JS 'exit' handler: an environment's end must release, natively,
// everything its buffers, mappings, channels, servers and waits held (env.h), and nothing
// may call into the addon after the environment is gone (a worker that was the addon's only
// user unloads it). Each combination of which thread loaded the addon first × what the
// worker was doing runs in a fresh child process, which must survive, with fds, memfds and
// memory back at their baseline.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { nodeBinaries } from './helpers';

// Inside the emulated VM (npm run test:kernel) JS runs about 5× slower: fewer, smaller rounds.
const GUEST = process.env.DMABUF_VM_GUEST === '1';
const ROUNDS = GUEST ? 2 : 6;
const COUNT = GUEST ? 8 : 50;
const MiB = 1 << 20;

describe('44 worker.terminate()', () => {
  for (const node of nodeBinaries()) {
    for (const first of ['worker', 'main'] as const) {
      for (const mode of ['idle', 'busy'] as const) {
        const what =
          mode === 'idle'
            ? `holding ${COUNT} mapped buffers, a kmap, views moved by transfer() (Node 22+), a channel pair with a pending receive and a message in flight, a server and a connection, a pending readiness wait`
            : 'in the middle of allocating, mapping, sending and closing';
        it(`${node.label}: addon loaded first by the ${first} thread; ${ROUNDS} workers terminated while ${what}: the process lives, fds, memfds and memory return`, function () {
          this.timeout(120000);
          const r = spawnSync(
            node.path,
            [...node.flags, join(__dirname, 'fixtures', 'terminate-child.js'), first, mode, String(ROUNDS), String(COUNT)],
            {
              encoding: 'utf8',
              timeout: 110000,
            },
          );
          assert.equal(r.signal, null, `the process died of ${r.signal}: ${r.stderr.slice(-2000)}`);
          assert.equal(r.status, 0, r.stderr.slice(-2000));
          const o = JSON.parse(r.stdout.trim().split('\n').pop()!);
          const left = [...o.after.links];
          for (const l of o.baseline.links) if (left.includes(l)) left.splice(left.indexOf(l), 1);
          delete o.baseline.links;
          delete o.after.links;
          const detail = `${JSON.stringify(o)}; new fds: ${left.slice(0, 10).join(', ')}${left.length > 10 ? ', …' : ''}`;
          assert.equal(o.after.memfds, o.baseline.memfds, `memfds left open by terminated workers: ${detail}`);
          assert.equal(o.after.fds, o.baseline.fds, `fds left open by terminated workers: ${detail}`);
          // Each worker touched COUNT MiB of shared memory; what is still mapped shows as RssShmem.
          assert.ok(o.after.shmem - o.baseline.shmem < 8 * MiB, `shared memory still mapped: ${detail}`);
          // Not under the sanitizers (npm run test:asan): ASan's quarantine and shadow memory grow RSS by design.
          assert.ok(
            process.env.DMABUF_SANITIZED === '1' || o.after.rss - o.baseline.rss < 128 * MiB,
            `RSS grew by ${(o.after.rss - o.baseline.rss) / MiB} MiB over ${o.touchedBytes / MiB} MiB touched: ${detail}`,
          );
          if (first === 'main') {
            assert.deepEqual(
              o.mainIntact,
              { closed: false, view: true, fdOpen: true, channel: true, pendingTransfers: 0 },
              "the main thread's own buffer, view or channel suffered",
            );
          }
        });
      }
    }
  }
});
