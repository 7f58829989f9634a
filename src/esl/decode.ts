import { isUtf8 } from 'node:buffer';

/*
 * How header values are decoded (never throws, whatever the bytes):
 *  1. `%XX` (two hex digits, either case) becomes the byte 0xXX. Anything else is kept as is: a lone `%`,
 *     `%Z1`, a `%` near the end. `+` stays `+`: FreeSWITCH's switch_url_encode writes a space as `%20` and a
 *     plus as `%2B` (see the recordings: `Event-Date-GMT: Wed,%2025%20Nov...`, `Reply-Text: %2BOK%0A`), and
 *     unencoded outer headers such as `Reply-Text: +OK accepted` must keep their plus.
 *  2. The resulting bytes are read as UTF-8 when the whole value is valid UTF-8 (`Zo%C3%AB` -> "Zoë"); otherwise
 *     every byte is one Latin-1 (ISO-8859-1) character (`Jo%E3o` -> "João", as sent by Latin-1 SIP trunks).
 *     The choice is made for the whole value, never per byte.
 * Bodies (api output, JSON events, inner event bodies) use rule 2 on their raw bytes.
 */

/** Decodes bytes as UTF-8 when they are valid UTF-8, else as Latin-1; never throws. */
export function decodeBytes(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isUtf8(buf) ? buf.toString('utf8') : buf.toString('latin1');
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/**
 * Decodes a header value given as a byte string (one char per byte, as from a latin1 read of the wire).
 * Values that hold no `%` and no byte >= 0x80 come back unchanged without copying.
 */
export function decodeByteString(raw: string): string {
  const n = raw.length;
  let plain = true;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 || c >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) return raw;
  const out = Buffer.allocUnsafe(n);
  let j = 0;
  for (let i = 0; i < n; i++) {
    let c = raw.charCodeAt(i);
    if (c === 0x25 && i + 2 < n) {
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hi < 0 ? -1 : hexValue(raw.charCodeAt(i + 2));
      if (lo >= 0) {
        c = hi * 16 + lo;
        i += 2;
      }
    }
    out[j++] = c & 0xff;
  }
  return decodeBytes(out.subarray(0, j));
}

/** URL-decodes a JS string by the rule above (its own non-ASCII characters count as their UTF-8 bytes). */
export function urlDecode(value: string): string {
  let ascii = true;
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  return decodeByteString(ascii ? value : Buffer.from(value, 'utf8').toString('latin1'));
}

/** The FreeSWITCH url-encoding of a value (switch_url_encode's character set), for tests and fakes. */
export function urlEncode(value: string): string {
  const bytes = Buffer.from(value, 'utf8');
  let out = '';
  for (const b of bytes) {
    const keep =
      (b >= 0x30 && b <= 0x39) ||
      (b >= 0x41 && b <= 0x5a) ||
      (b >= 0x61 && b <= 0x7a) ||
      "'()*,-./!$~_".includes(String.fromCharCode(b));
    out += keep ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
