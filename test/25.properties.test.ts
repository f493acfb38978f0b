// Property-based differential tests on the host: random operation sequences on the memfd
// exporter (and memfd buffers imported with fromFd) agree step by step with the memory
// exporter. test/kernel/36.properties runs udmabuf and dma-heap the same way in the VM.
// DMABUF_FC_SEED=<seed> replays a run; DMABUF_FC_RUNS scales it.
import { PAGE_SIZE, allocate, capabilities, fromFd } from '../lib';
import { checkFds } from './helpers';
import { check, fdMaker, localChannel, memoryModel, type Config, type Subject } from './props';

const guest = process.env.DMABUF_VM_GUEST === '1';
/** Sequences per subject: 10 000 in all on the host; fewer in the VM, where JS runs ~5× slower. */
const RUNS = Number(process.env.DMABUF_FC_RUNS ?? (guest ? 500 : 5000));
const MAX_OPS = Number(process.env.DMABUF_FC_OPS ?? 24);

describe('25 properties: random operation sequences agree with the memory exporter', function () {
  this.timeout(guest ? 1200000 : 300000);
  checkFds();
  const channel = localChannel();
  before(() => channel.get()); // its two sockets stay open across the tests
  after(() => channel.close());

  const memfd = (cfg: Config) => allocate(cfg.pages * PAGE_SIZE, { exporter: 'memfd', deferred: cfg.deferred });
  const subjects: Subject[] = [
    { label: 'memfd', subject: fdMaker(memfd, channel.get), model: memoryModel(false), share: true, migrate: false, defers: true },
    {
      label: 'fromFd(memfd)',
      subject: fdMaker((cfg) => {
        using src = memfd({ ...cfg, deferred: false });
        return fromFd(src.fd);
      }, channel.get),
      model: memoryModel(false),
      share: true,
      migrate: false,
      defers: false,
    },
  ];

  for (const s of subjects) {
    it(`${s.label}: ${RUNS} sequences of up to ${MAX_OPS} operations`, async function () {
      if (!capabilities().exporters.includes('memfd')) this.skip();
      await check(s, RUNS, MAX_OPS);
    });
  }
});
