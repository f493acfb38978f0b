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

/** The record for a short all-ASCII JSON text, built in plain JS with its body in place (most
 *  payloads: a few numbers and words; TextEncoder's trip into C++ costs more), or null. */
function asciiRecord(count: number, json: string): Uint8Array | null {
  if (json.length > 256) return null;
  const out = new Uint8Array(HEADER + json.length);
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c > 0x7f) return null;
    out[HEADER + i] = c;
  }
  header(out, count, HAS_PAYLOAD);
  return out;
}

/** Magic, count and flags, little-endian, into the first 8 bytes. */
function header(out: Uint8Array, count: number, flags: number): void {
  out[0] = MAGIC & 0xff;
  out[1] = (MAGIC >>> 8) & 0xff;
  out[2] = (MAGIC >>> 16) & 0xff;
  out[3] = MAGIC >>> 24;
  out[4] = count & 0xff;
  out[5] = count >>> 8;
  out[6] = flags & 0xff;
  out[7] = flags >>> 8;
}

/** Short all-ASCII bytes as a string (ASCII is valid UTF-8 as it stands), or null. */
function fromAscii(b: Uint8Array, start: number, end: number): string | null {
  if (end - start > 256) return null;
  let s = '';
  for (let i = start; i < end; i++) {
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
  if (payload === undefined) {
    const out = new Uint8Array(HEADER);
    header(out, count, 0);
    return out;
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch (err) {
    throw argValueMessage(`The argument 'payload' must be JSON-serialisable: ${(err as Error).message}`);
  }
  if (json === undefined) throw argValue('payload', 'JSON-serialisable', payload);
  const fast = asciiRecord(count, json);
  if (fast) return fast;
  const body = encoder.encode(json);
  if (body.length > MAX_PAYLOAD) {
    throw outOfRangeMessage(
      `The value of "payload" is out of range. It must take at most ${MAX_PAYLOAD} bytes as JSON. Received ${body.length} bytes; send large data in a buffer`,
    );
  }
  const data = new Uint8Array(HEADER + body.length);
  header(data, count, HAS_PAYLOAD);
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
  const u32 = (i: number) => (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24)) >>> 0;
  if (r.bytes < HEADER || u32(0) !== MAGIC) throw badMessage(`a ${r.bytes}-byte message without a channel header arrived`);
  const count = buf[4] | (buf[5] << 8);
  if (count !== fds.length) throw badMessage(`the header announces ${count} buffer(s), ${fds.length} fd(s) arrived`);
  const flags = buf[6] | (buf[7] << 8);
  // Flags this version does not know mean a format it cannot read: say so, never guess.
  if (flags & ~HAS_PAYLOAD)
    throw badMessage(`the header has flags 0x${flags.toString(16)}, of which only 0x${HAS_PAYLOAD.toString(16)} is known`);
  if (flags & HAS_PAYLOAD) {
    try {
      return JSON.parse(fromAscii(buf, HEADER, r.bytes) ?? decoder.decode(buf.subarray(HEADER, r.bytes)));
    } catch (err) {
      throw badMessage(`the payload is not JSON (${(err as Error).message})`);
    }
  }
  if (r.bytes !== HEADER) throw badMessage('bytes follow a header that announces no payload');
  return undefined;
}
