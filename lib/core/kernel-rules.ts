// Checks the kernel makes, applied by the exporters that have no kernel behind them
// (memfd, memory) so that every exporter fails alike. Errnos as in drivers/dma-buf.
import { systemError } from '../platform/errors';
import { DMA_BUF_NAME_LEN, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_VALID_FLAGS_MASK } from '../platform/uapi';

/** DMA_BUF_IOCTL_SYNC: unknown bits, or neither READ nor WRITE → EINVAL. */
export function checkSyncFlags(flags: number): void {
  if ((flags & ~DMA_BUF_SYNC_VALID_FLAGS_MASK) !== 0 || flags > 0xffffffff || (flags & DMA_BUF_SYNC_RW) === 0) {
    throw systemError('EINVAL', { syscall: 'ioctl', ioctl: 'DMA_BUF_IOCTL_SYNC' }, `invalid sync flags 0x${flags.toString(16)}`);
  }
}

/** DMA_BUF_SET_NAME: strndup_user(name, 32) fails for 32 bytes or more → EINVAL. */
export function checkName(name: string): void {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes >= DMA_BUF_NAME_LEN) {
    throw systemError(
      'EINVAL',
      { syscall: 'ioctl', ioctl: 'DMA_BUF_SET_NAME_B' },
      `a dma-buf name is at most ${DMA_BUF_NAME_LEN - 1} bytes (this one is ${bytes})`,
    );
  }
}
