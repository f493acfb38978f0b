// Property-based differential tests on the real kernel (VM): random operation sequences on
// udmabuf and dma-heap buffers agree step by step with the memory exporter (see test/props.ts).
// udmabuf runs twice: one storage chunk with sharing (a channel to itself, worker transfers),
// and one to four chunks with migration, against a memory model that migrates too.
import { PAGE_SIZE, allocate, capabilities } from '../../lib';
import { checkFds } from '../helpers';
import { check, fdMaker, localChannel, memoryModel, type Config, type Subject } from '../props';

/** Sequences per subject (the VM runs JS about 5× slower than the host). */
const RUNS = Number(process.env.DMABUF_FC_KERNEL_RUNS ?? 1000);
const MAX_OPS = Number(process.env.DMABUF_FC_OPS ?? 24);

describe('36 properties on the kernel exporters: random operation sequences agree with the memory exporter', function () {
  this.timeout(1800000);
  checkFds();
  const channel = localChannel();
  before(() => channel.get());
  after(() => channel.close());

  const caps = capabilities();
  const heap = caps.heaps.find((h) => h.accessible)?.name;
  const udmabuf = (cfg: Config) => allocate(cfg.pages * PAGE_SIZE, { exporter: 'udmabuf', deferred: cfg.deferred, segments: cfg.segments });
  const subjects: Array<Subject & { present: boolean }> = [
    {
      label: 'udmabuf',
      present: caps.exporters.includes('udmabuf'),
      subject: fdMaker(udmabuf, channel.get),
      model: memoryModel(false),
      share: true,
      migrate: false,
      defers: true,
    },
    {
      label: 'udmabuf (1–4 chunks, migration)',
      present: caps.exporters.includes('udmabuf'),
      subject: fdMaker(udmabuf, channel.get),
      model: memoryModel(true),
      share: false,
      migrate: true,
      defers: true,
    },
    {
      label: `dma-heap(${heap})`,
      present: caps.exporters.includes('dma-heap') && heap !== undefined,
      subject: fdMaker((cfg) => allocate(cfg.pages * PAGE_SIZE, { exporter: 'dma-heap', heap, deferred: cfg.deferred }), channel.get),
      model: memoryModel(false),
      share: true,
      migrate: false,
      defers: true,
    },
  ];

  for (const s of subjects) {
    it(`${s.label}: ${RUNS} sequences of up to ${MAX_OPS} operations`, async function () {
      if (!s.present) this.skip();
      await check(s, RUNS, MAX_OPS);
    });
  }
});
