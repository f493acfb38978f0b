// The wire format of a channel message: an 8-byte header (magic "DMB1", the buffer
// count, flags) and an optional UTF-8 JSON payload, in one SEQPACKET record whose
// SCM_RIGHTS control message carries the buffers' fds.
import type { NativeReceived } from '../../platform/binding';
import { DmaBufError, argValue, argValueMessage, codes, outOfRangeMessage, systemError } from '../../platform/errors';

/** The most buffers one message can carry: the kernel's SCM_MAX_FD. */
export const MAX_BUFFERS = 253;
/** The most bytes a message's payload may take as UTF-8 JSON. */
export const MAX_PAYLOAD = 64 * 1024;

/** @deprecated The channel's codes are in `codes` with all the others; this alias keeps old code working. */
export const channelCodes = {
  CHANNEL_CLOSED: codes.CHANNEL_CLOSED,
  QUEUE_FULL: codes.QUEUE_FULL,
  BAD_MESSAGE: codes.BAD_MESSAGE,
} as const;

/** Bytes of the header. */
export const HEADER = 8;
const MAGIC = 0x31424d44; // "DMB1", little-endian
const HAS_PAYLOAD = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A short all-ASCII string as bytes, in plain JS (most payloads: a few numbers and words;
 *  TextEncoder's trip into C++ costs more than the copy), or null. */
function ascii(s: string): Uint8Array | null {
  if (s.length > 256) return null;
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return null;
    out[i] = c;
  }
  return out;
}

/** Short all-ASCII bytes as a string (ASCII is valid UTF-8 as it stands), or null. */
function fromAscii(b: Uint8Array): string | null {
  if (b.length > 256) return null;
  let s = '';
  for (let i = 0; i < b.length; i++) {
    if (b[i] > 0x7f) return null;
    s += String.fromCharCode(b[i]);
  }
  return s;
}

/** ERR_DMABUF_BAD_MESSAGE; `cause`: why, when a buffer in it could not be imported. */
export function badMessage(message: string, cause?: unknown): DmaBufError {
  return new DmaBufError(
    codes.BAD_MESSAGE,
    `receive: ${message}; the message was dropped and its fds closed`,
    cause === undefined ? undefined : { cause },
  );
}

/** The record for a message of `count` buffers and `payload` (undefined: none). */
export function encode(count: number, payload: unknown): Uint8Array {
  let body: Uint8Array = new Uint8Array(0);
  if (payload !== undefined) {
    let json: string | undefined;
    try {
      json = JSON.stringify(payload);
    } catch (err) {
      throw argValueMessage(`The argument 'payload' must be JSON-serialisable: ${(err as Error).message}`);
    }
    if (json === undefined) throw argValue('payload', 'JSON-serialisable', payload);
    body = ascii(json) ?? encoder.encode(json);
    if (body.length > MAX_PAYLOAD) {
      throw outOfRangeMessage(
        `The value of "payload" is out of range. It must take at most ${MAX_PAYLOAD} bytes as JSON. Received ${body.length} bytes; send large data in a buffer`,
      );
    }
  }
  const data = new Uint8Array(HEADER + body.length);
  const dv = new DataView(data.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint16(4, count, true);
  dv.setUint16(6, payload === undefined ? 0 : HAS_PAYLOAD, true);
  data.set(body, HEADER);
  return data;
}

/** The payload of a received record, after checking its header against the fds that came with it. */
export function decode(buf: Uint8Array, r: NativeReceived, fd: number): unknown {
  const fds = r.fds;
  if (r.truncated) {
    throw systemError(
      'EMSGSIZE',
      { syscall: 'recvmsg', fd },
      `a message longer than ${HEADER + MAX_PAYLOAD} bytes arrived (MSG_TRUNC); it was dropped and its ${fds.length} fd(s) closed`,
    );
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, r.bytes);
  if (r.bytes < HEADER || dv.getUint32(0, true) !== MAGIC) throw badMessage(`a ${r.bytes}-byte message without a channel header arrived`);
  const count = dv.getUint16(4, true);
  if (count !== fds.length) throw badMessage(`the header announces ${count} buffer(s), ${fds.length} fd(s) arrived`);
  const flags = dv.getUint16(6, true);
  // Flags this version does not know mean a format it cannot read: say so, never guess.
  if (flags & ~HAS_PAYLOAD)
    throw badMessage(`the header has flags 0x${flags.toString(16)}, of which only 0x${HAS_PAYLOAD.toString(16)} is known`);
  if (flags & HAS_PAYLOAD) {
    try {
      const body = buf.subarray(HEADER, r.bytes);
      return JSON.parse(fromAscii(body) ?? decoder.decode(body));
    } catch (err) {
      throw badMessage(`the payload is not JSON (${(err as Error).message})`);
    }
  }
  if (r.bytes !== HEADER) throw badMessage('bytes follow a header that announces no payload');
  return undefined;
}
