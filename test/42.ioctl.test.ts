// The raw ioctl passthrough (lib/devices uses it for DRM and V4L2) lets through only what
// the request number bounds: a direction needs a view of at least _IOC_SIZE bytes, and an
// _IOC_NONE request (legacy numbers such as FIONREAD and SIOCGIFCONF encode size 0 yet
// write through the pointer) never gets a pointer at all.
import assert from 'node:assert/strict';
import { native } from '../lib/platform/binding';
import { assertCode, assertSysError, checkFds } from './helpers';

const FIONREAD = 0x541b; // _IOC_NONE, size 0; writes an int through arg
const SIOCGIFCONF = 0x8912; // _IOC_NONE, size 0; struct ifconf { int len; char *buf } with a user pointer inside
const IOC_READ = 2;
const ioc = (dir: number, type: number, nr: number, size: number) => ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;

describe('42 the raw ioctl passthrough', () => {
  checkFds();
  let pair: Int32Array;
  before(() => {
    pair = new Int32Array(2);
    native().socketPair(pair);
    native().socketSend(pair[0], new Uint8Array(100), []);
  });
  after(() => {
    native().close(pair[0]);
    native().close(pair[1]);
  });

  it('FIONREAD (_IOC_NONE) with a 1-byte view → ERR_INVALID_ARG_VALUE, and nothing past the view is written', () => {
    const backing = new Uint8Array(8).fill(0xee);
    assertCode(() => native().ioctl(pair[1], FIONREAD, backing.subarray(0, 1)), 'ERR_INVALID_ARG_VALUE', /must be empty.*_IOC_NONE/);
    assert.deepEqual([...backing], Array(8).fill(0xee), 'the kernel wrote an int into a 1-byte view');
  });

  it('FIONREAD with a view big enough for the int is refused too: nothing says how much the kernel writes', () => {
    assertCode(() => native().ioctl(pair[1], FIONREAD, new Int32Array(1)), 'ERR_INVALID_ARG_VALUE', /0x541b/);
  });

  it('FIONREAD with an empty view: the kernel gets no pointer (arg 0) → EFAULT', () => {
    assertSysError(() => native().ioctl(pair[1], FIONREAD, new Uint8Array(0)), 'EFAULT', -14, 'ioctl');
  });

  it('SIOCGIFCONF (a user pointer inside its struct) → ERR_INVALID_ARG_VALUE; empty → EFAULT', () => {
    const ifc = new DataView(new ArrayBuffer(16));
    assertCode(() => native().ioctl(pair[1], SIOCGIFCONF, ifc), 'ERR_INVALID_ARG_VALUE', /0x8912/);
    assert.equal(ifc.getInt32(0, true), 0, 'the kernel filled in ifc_len');
    assertSysError(() => native().ioctl(pair[1], SIOCGIFCONF, new DataView(new ArrayBuffer(0))), 'EFAULT', -14, 'ioctl');
  });

  it('a request with a direction: the view must hold _IOC_SIZE bytes (ERR_OUT_OF_RANGE); size 0 is refused', () => {
    const req = ioc(IOC_READ, 0x54, 0x7f, 8); // no such ioctl: ENOTTY once it reaches the kernel
    assertCode(() => native().ioctl(pair[1], req, new Uint8Array(7)), 'ERR_OUT_OF_RANGE', /at least 8 bytes/);
    assertSysError(() => native().ioctl(pair[1], req, new Uint8Array(8)), 'ENOTTY', -25, 'ioctl');
    assertCode(() => native().ioctl(pair[1], ioc(IOC_READ, 0x54, 0x7f, 0), new Uint8Array(0)), 'ERR_INVALID_ARG_VALUE', /size 0/);
  });
});
