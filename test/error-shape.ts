// What tests compare of an error: its class, name, own keys and Node's SystemError fields.
// Imports nothing from lib, so a fixture can load it before it blocks the addon.

export interface Shape {
  proto: string;
  name: string;
  keys: string[];
  code?: string;
  errno?: number;
  syscall?: string;
  message: string;
}

export function shape(err: unknown): Shape {
  const e = err as NodeJS.ErrnoException;
  return {
    proto: Object.getPrototypeOf(e) === Error.prototype ? 'Error' : String(e.constructor?.name),
    name: e.name,
    keys: Object.keys(e),
    code: e.code,
    errno: e.errno,
    syscall: e.syscall,
    message: e.message,
  };
}
