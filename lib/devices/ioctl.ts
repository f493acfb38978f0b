// A device ioctl through the native passthrough, its error named after the ioctl and node.
import { native } from '../platform/binding';

export function namedIoctl(fd: number, request: number, name: string, path: string, data: DataView): void {
  try {
    native().ioctl(fd, request, data);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { ioctl?: string };
    e.ioctl = name;
    e.path = path;
    e.message = e.message.replace(/ioctl\(0x[0-9a-f]+\)/, `ioctl(${name})`) + ` '${path}'`;
    throw e;
  }
}
