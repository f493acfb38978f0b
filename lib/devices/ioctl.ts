// A device ioctl through the native passthrough, its error named after the ioctl and node.
import { native } from '../platform/binding';
import { explained } from '../platform/errors';

export function namedIoctl(fd: number, request: number, name: string, path: string, data: DataView): void {
  try {
    native().ioctl(fd, request, data);
  } catch (err) {
    throw explained(err, { ioctl: name, path });
  }
}
