// memfds as udmabuf wants them: MFD_ALLOW_SEALING, sized, F_SEAL_SHRINK, the seal set
// locked; the reasons udmabuf refuses a memfd, in words; and the memfds no other process
// may hold (hugetlb).
import { native, type NativeProbe } from '../platform/binding';
import { DmaBufError, codes, explained, isErrno, systemError } from '../platform/errors';
import { closeOnThrow } from '../platform/fds';
import { hugePageSize } from '../platform/uapi';

/** statfs f_type of shmem (memfds, tmpfs) and hugetlbfs: the files udmabuf takes. */
const TMPFS_MAGIC = 0x01021994;
const HUGETLBFS_MAGIC = 0x958458f6;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/**
 * A new sealed memfd of `size` bytes: F_SEAL_SHRINK (udmabuf needs it; nobody can truncate
 * pages away from under a mapping), F_SEAL_GROW (the size is fixed), and F_SEAL_SEAL, so that
 * no holder (a peer it was sent to) can add F_SEAL_WRITE later, which would make every
 * writable mapping of ours fail with EPERM for good (udmabuf refuses write seals anyway).
 * With `hugetlb`, size must be a multiple of the kernel's huge page size.
 */
export function sealedMemfd(name: string, size: number, hugetlb: boolean): number {
  const b = native();
  const c = b.constants;
  const fd = b.memfdCreate(name, c.MFD_CLOEXEC | c.MFD_ALLOW_SEALING | (hugetlb ? c.MFD_HUGETLB : 0));
  try {
    return closeOnThrow(fd, () => {
      b.ftruncate(fd, size);
      b.addSeals(fd, c.F_SEAL_SHRINK | c.F_SEAL_GROW | c.F_SEAL_SEAL);
      return fd;
    });
  } catch (err) {
    throw hugetlb ? hugetlbAdvice(err, size) : err;
  }
}

/** hugetlbfs refuses (EINVAL) to size a file to anything but whole huge pages. */
function hugetlbAdvice(err: unknown, size: number): unknown {
  const huge = hugePageSize();
  if (!isErrno(err, 'EINVAL') || huge === null || size % huge === 0) return err;
  return explained(err, {
    advice:
      `hugetlb memfds hold whole huge pages: ${size} bytes is not a multiple of this kernel's huge page size ` +
      `(${huge}, Hugepagesize in /proc/meminfo); round up to ${Math.ceil(size / huge) * huge}`,
  });
}

/**
 * Why udmabuf would refuse this memfd range, with the errno it answers (EBADFD: not a
 * memfd; EINVAL: seals, alignment, range), or null when it should accept it. `probe`: a
 * probeFd() of fd (or of an fd of the same file) already made.
 */
export function memfdProblem(
  fd: number,
  offset: number,
  size: number,
  pageSize: number,
  probe?: NativeProbe,
): { code: 'EBADFD' | 'EINVAL'; why: string } | null {
  const b = native();
  const c = b.constants;
  if (offset % pageSize !== 0) return { code: 'EINVAL', why: `offset ${offset} is not a multiple of the page size (${pageSize})` };
  if (size % pageSize !== 0 || size === 0)
    return { code: 'EINVAL', why: `size ${size} is not a positive multiple of the page size (${pageSize})` };
  const p = probe ?? b.probeFd(fd);
  if (p.flags < 0 || p.link === '') return { code: 'EBADFD', why: `fd ${fd} is not open` };
  if ((p.fsType !== TMPFS_MAGIC && p.fsType !== HUGETLBFS_MAGIC) || (p.mode & S_IFMT) !== S_IFREG) {
    return { code: 'EBADFD', why: `fd ${fd} is not a memfd (it is ${p.link})` };
  }
  // udmabuf: memfd_fcntl(F_GET_SEALS) failing → EBADFD; no F_SEAL_SHRINK → EINVAL; F_SEAL_WRITE
  // (and from 6.12.7 F_SEAL_FUTURE_WRITE) → EINVAL.
  const seals = p.seals;
  if (seals < 0) return { code: 'EBADFD', why: `fd ${fd} does not support seals` };
  if (!(seals & c.F_SEAL_SHRINK)) {
    return { code: 'EINVAL', why: 'the memfd is not sealed with F_SEAL_SHRINK (create it with MFD_ALLOW_SEALING, then add F_SEAL_SHRINK)' };
  }
  if (seals & (c.F_SEAL_WRITE | c.F_SEAL_FUTURE_WRITE)) {
    return { code: 'EINVAL', why: 'the memfd is write-sealed (F_SEAL_WRITE or F_SEAL_FUTURE_WRITE), which udmabuf refuses' };
  }
  if (p.size < 0) throw systemError(p.size, { syscall: 'lseek', fd });
  const end = p.size;
  if (offset + size > end) return { code: 'EINVAL', why: `range ${offset}+${size} runs past the memfd's end (${end} bytes)` };
  return null;
}

/** Whether fd is a file on hugetlbfs (a hugetlb memfd). */
export function isHugetlb(fd: number): boolean {
  return native().fstatfsType(fd) === HUGETLBFS_MAGIC;
}

/**
 * Refuses to pass a hugetlb memfd to or from another process. Whoever holds one can punch a
 * hole in it (fallocate PUNCH_HOLE; only a write seal stops that); the huge page goes back to
 * the pool, and once someone else takes it, the other side's next access through its mapping
 * is SIGBUS. udmabuf with hugetlb is the safe form: the kernel pins those pages.
 */
export function assertCrossProcess(fd: number, what: string, fsType = native().fstatfsType(fd)): void {
  if (fsType !== HUGETLBFS_MAGIC) return;
  throw new DmaBufError(
    codes.UNSAFE_TO_SHARE,
    `${what} is a hugetlb memfd: a process holding it can punch a hole in it, and once the huge page is gone the other ` +
      "side's next access is SIGBUS. Use { exporter: 'udmabuf', hugetlb: true } (the kernel pins its pages), or a memfd " +
      'without hugetlb; within this process, toTransferable() and fromFd() still take it',
  );
}
