// Prints, at the end of a run, how many conformance tests ran against each exporter
// and on which kernel, so a run that silently lost an exporter shows it.
import { release } from 'node:os';
import { capabilities } from '../lib';
import { tally } from './helpers';

after(() => {
  const caps = capabilities();
  const rows = [...tally].map(([label, n]) => `  ${label.padEnd(24)} ${n}`);
  process.stdout.write(
    `\ntests per exporter on Linux ${release()} (udmabuf: ${caps.udmabuf.present ? 'yes' : 'no'}, heaps: ${caps.heaps.map((h) => h.name).join(',') || 'none'}):\n${rows.join('\n')}\n`,
  );
});
