import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { inflateRawSync, inflateSync } from 'node:zlib';
import { SecretKeyError } from '../core/errors.js';

/**
 * OpenPGP symmetric encryption (RFC 4880) in the exact shape pgcrypto's pgp_sym_encrypt writes and
 * pgp_sym_decrypt reads, done here in Node so that neither the key nor a plaintext secret is ever a bind
 * parameter of a statement (PostgreSQL logs those with log_statement=all, auto_explain.log_parameter_max_length,
 * log_min_duration_statement...; issue 9 item 6). What the database stores stays readable with
 * `pgp_sym_decrypt(secrets, key)`, and what pgcrypto wrote before stays readable here.
 *
 * The message: a Symmetric-Key Encrypted Session Key packet (v4, iterated+salted S2K), then a Symmetrically
 * Encrypted Integrity Protected Data packet (v1): CFB with a zero IV over a random block prefix (its last two
 * bytes repeated: the "quick check"), a literal data packet (or a compressed one holding it) and the MDC packet
 * (SHA-1 of all that precedes it).
 */

/** Secrets are a few hundred bytes; anything this large is not ours (and is not worth hashing). */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Bounds what a compressed packet may inflate to (a small packet can claim gigabytes). */
const MAX_PLAINTEXT_BYTES = 1024 * 1024;

const TAG = { skesk: 3, sed: 9, seipd: 18, compressed: 8, literal: 11, marker: 10, mdc: 19 } as const;

/** RFC 4880 9.2: AES only (what pgcrypto defaults to and what Node has without legacy providers). */
const CIPHERS: Record<number, { name: string; keyBytes: number }> = {
  7: { name: 'aes-128-cfb', keyBytes: 16 },
  8: { name: 'aes-192-cfb', keyBytes: 24 },
  9: { name: 'aes-256-cfb', keyBytes: 32 },
};
const BLOCK_BYTES = 16;

/** RFC 4880 9.4 hash ids. */
const HASHES: Record<number, string> = {
  1: 'md5',
  2: 'sha1',
  3: 'ripemd160',
  8: 'sha256',
  9: 'sha384',
  10: 'sha512',
  11: 'sha224',
};

const S2K_SHA256 = 8;
const CIPHER_AES128 = 7;

interface S2k {
  mode: number;
  hash: number;
  salt: Buffer;
  /** Bytes to hash (mode 3 only). */
  count: number;
}

interface Packet {
  tag: number;
  body: Buffer;
}

/** The message, or a SecretKeyError whose text says what went wrong (never the key or the data). */
function corrupt(what: string): SecretKeyError {
  return new SecretKeyError(`cannot decrypt: ${what}`);
}

/** Encrypts `plaintext` (UTF-8) for `passphrase` as pgp_sym_encrypt(text, key) would, AES-128 with S2K SHA-256. */
export function pgpSymEncrypt(plaintext: string, passphrase: string): Buffer {
  const cipher = CIPHERS[CIPHER_AES128] as { name: string; keyBytes: number };
  // pgcrypto picks a count byte in 96..127 (65536..253952 bytes hashed): the same here.
  const countByte = 96 + ((randomBytes(1)[0] ?? 0) & 0x1f);
  const s2k: S2k = { mode: 3, hash: S2K_SHA256, salt: randomBytes(8), count: decodeCount(countByte) };
  const key = deriveKey(Buffer.from(passphrase, 'utf8'), s2k, cipher.keyBytes);

  const data = Buffer.from(plaintext, 'utf8');
  const date = Buffer.alloc(4);
  date.writeUInt32BE(Math.floor(Date.now() / 1000) >>> 0);
  // 't': pgp_sym_decrypt (the text variant) refuses literal data not marked as text.
  const literal = packet(TAG.literal, Buffer.concat([Buffer.from([0x74, 0]), date, data]));
  const prefix = randomBytes(BLOCK_BYTES);
  const hashed = Buffer.concat([
    prefix,
    prefix.subarray(BLOCK_BYTES - 2),
    literal,
    Buffer.from([0xd3, 0x14]),
  ]);
  const mdc = createHash('sha1').update(hashed).digest();
  const enc = createCipheriv(cipher.name, key, Buffer.alloc(BLOCK_BYTES));
  const body = Buffer.concat([Buffer.from([1]), enc.update(Buffer.concat([hashed, mdc])), enc.final()]);

  const skesk = Buffer.concat([
    Buffer.from([4, CIPHER_AES128, 3, s2k.hash]),
    s2k.salt,
    Buffer.from([countByte]),
  ]);
  return Buffer.concat([packet(TAG.skesk, skesk), packet(TAG.seipd, body)]);
}

/**
 * Decrypts what pgp_sym_encrypt (any of its ciphers AES-128/192/256, S2K modes 0/1/3, with or without a
 * separate session key, ZIP or ZLIB compression) or pgpSymEncrypt wrote. A wrong key or tampered bytes throw
 * SecretKeyError (quick check, then the MDC).
 */
export function pgpSymDecrypt(message: Buffer, passphrase: string): string {
  if (message.length > MAX_MESSAGE_BYTES) throw corrupt(`message of ${message.length} bytes is too large`);
  const packets = readPackets(message);
  const skesk = packets.find((p) => p.tag === TAG.skesk);
  const data = packets.find((p) => p.tag === TAG.seipd || p.tag === TAG.sed);
  if (skesk === undefined) throw corrupt('no symmetric-key packet (not a pgp_sym_encrypt value)');
  if (data === undefined) throw corrupt('no encrypted data packet');
  if (data.tag === TAG.sed) {
    throw corrupt('data without integrity protection (written with disable-mdc=1) is not accepted');
  }
  const { cipher, key } = sessionKey(skesk.body, Buffer.from(passphrase, 'utf8'));
  if (data.body[0] !== 1) throw corrupt(`encrypted data packet version ${data.body[0] ?? '?'}`);
  const dec = createDecipheriv(cipher.name, key, Buffer.alloc(BLOCK_BYTES));
  const plain = Buffer.concat([dec.update(data.body.subarray(1)), dec.final()]);
  if (plain.length < BLOCK_BYTES + 2 + 22) throw corrupt('encrypted data too short');
  if (plain[BLOCK_BYTES - 2] !== plain[BLOCK_BYTES] || plain[BLOCK_BYTES - 1] !== plain[BLOCK_BYTES + 1]) {
    throw new SecretKeyError('wrong key or corrupt data');
  }
  const mdcAt = plain.length - 22;
  const digest = createHash('sha1')
    .update(plain.subarray(0, mdcAt + 2))
    .digest();
  if (
    plain[mdcAt] !== 0xd3 ||
    plain[mdcAt + 1] !== 0x14 ||
    !timingSafeEqual(digest, plain.subarray(mdcAt + 2))
  ) {
    throw new SecretKeyError('wrong key or corrupt data (integrity check failed)');
  }
  return literalText(readPackets(plain.subarray(BLOCK_BYTES + 2, mdcAt)), true);
}

function sessionKey(
  body: Buffer,
  passphrase: Buffer,
): { cipher: { name: string; keyBytes: number }; key: Buffer } {
  if (body[0] !== 4) throw corrupt(`symmetric-key packet version ${body[0] ?? '?'}`);
  const s2kCipher = cipherOf(body[1]);
  const { s2k, end } = readS2k(body, 2);
  const derived = deriveKey(passphrase, s2k, s2kCipher.keyBytes);
  const esk = body.subarray(end);
  if (esk.length === 0) return { cipher: s2kCipher, key: derived };
  // sess-key=1: the session key is itself encrypted (CFB, zero IV) under the S2K key, its cipher id first.
  const dec = createDecipheriv(s2kCipher.name, derived, Buffer.alloc(BLOCK_BYTES));
  const plain = Buffer.concat([dec.update(esk), dec.final()]);
  const cipher = cipherOf(plain[0], 'wrong key or corrupt data');
  const key = plain.subarray(1);
  if (key.length !== cipher.keyBytes) throw new SecretKeyError('wrong key or corrupt data');
  return { cipher, key };
}

function cipherOf(id: number | undefined, unknown?: string): { name: string; keyBytes: number } {
  const c = id === undefined ? undefined : CIPHERS[id];
  if (c !== undefined) return c;
  if (unknown !== undefined) throw new SecretKeyError(unknown);
  throw corrupt(`cipher algorithm ${id ?? '?'} is not supported (only AES-128/192/256)`);
}

function readS2k(body: Buffer, at: number): { s2k: S2k; end: number } {
  const mode = body[at];
  const hash = body[at + 1];
  if (mode === undefined || hash === undefined) throw corrupt('truncated S2K specifier');
  if (HASHES[hash] === undefined) throw corrupt(`S2K hash algorithm ${hash} is not supported`);
  if (mode === 0) return { s2k: { mode, hash, salt: Buffer.alloc(0), count: 0 }, end: at + 2 };
  if (body.length < at + 10) throw corrupt('truncated S2K salt');
  const salt = body.subarray(at + 2, at + 10);
  if (mode === 1) return { s2k: { mode, hash, salt, count: 0 }, end: at + 10 };
  if (mode === 3 && body.length >= at + 11) {
    return { s2k: { mode, hash, salt, count: decodeCount(body[at + 10] ?? 0) }, end: at + 11 };
  }
  throw corrupt(`S2K mode ${mode} is not supported`);
}

function decodeCount(c: number): number {
  return (16 + (c & 15)) << ((c >> 4) + 6);
}

/** RFC 4880 3.7.1: one hash context per output block, the i-th preloaded with i zero bytes. */
function deriveKey(passphrase: Buffer, s2k: S2k, keyBytes: number): Buffer {
  const algo = HASHES[s2k.hash] as string;
  const unit = Buffer.concat([s2k.salt, passphrase]);
  // Iterated: `count` bytes of salt||passphrase repeated, at least one whole copy.
  const total = s2k.mode === 3 ? Math.max(s2k.count, unit.length) : unit.length;
  const reps = Math.max(1, Math.floor(65536 / Math.max(1, unit.length)));
  const chunk = Buffer.concat(Array.from({ length: reps }, () => unit));
  const out: Buffer[] = [];
  for (let i = 0, have = 0; have < keyBytes; i++) {
    const h = createHash(algo);
    if (i > 0) h.update(Buffer.alloc(i));
    let left = total;
    while (left >= chunk.length) {
      h.update(chunk);
      left -= chunk.length;
    }
    if (left > 0) h.update(chunk.subarray(0, left));
    const d = h.digest();
    out.push(d);
    have += d.length;
  }
  return Buffer.concat(out).subarray(0, keyBytes);
}

/** The text of the literal data packet, through at most one compressed packet (as pgcrypto allows). */
function literalText(packets: Packet[], allowCompressed: boolean): string {
  const first = packets[0];
  if (first?.tag === TAG.compressed && allowCompressed)
    return literalText(readPackets(inflate(first.body)), false);
  if (first?.tag !== TAG.literal) throw corrupt('no literal data packet inside the encrypted data');
  const body = first.body;
  const nameLen = body[1];
  if (nameLen === undefined || body.length < 2 + nameLen + 4) throw corrupt('truncated literal data packet');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(2 + nameLen + 4));
  } catch {
    throw corrupt('the decrypted data is not UTF-8 text');
  }
}

function inflate(body: Buffer): Buffer {
  const algo = body[0];
  const data = body.subarray(1);
  const limit = { maxOutputLength: MAX_PLAINTEXT_BYTES };
  try {
    if (algo === 0) return data;
    if (algo === 1) return inflateRawSync(data, limit);
    if (algo === 2) return inflateSync(data, limit);
  } catch {
    throw corrupt('compressed data does not inflate (corrupt, or larger than 1 MiB)');
  }
  throw corrupt(`compression algorithm ${algo ?? '?'} is not supported (only ZIP and ZLIB)`);
}

/** Splits a packet sequence, joining new-format partial body chunks; old-format headers read too. */
function readPackets(buf: Buffer): Packet[] {
  const packets: Packet[] = [];
  let at = 0;
  while (at < buf.length) {
    const hdr = buf[at++] as number;
    if ((hdr & 0x80) === 0) throw corrupt('not an OpenPGP packet');
    if ((hdr & 0x40) === 0) {
      const tag = (hdr >> 2) & 0x0f;
      const lenType = hdr & 3;
      if (lenType === 3) {
        packets.push({ tag, body: buf.subarray(at) });
        break;
      }
      const n = 1 << lenType;
      if (at + n > buf.length) throw corrupt('truncated packet header');
      const len = buf.readUIntBE(at, n);
      at += n;
      packets.push({ tag, body: take(buf, at, len) });
      at += len;
      continue;
    }
    const tag = hdr & 0x3f;
    const parts: Buffer[] = [];
    for (;;) {
      const { len, partial, next } = newLength(buf, at);
      parts.push(take(buf, next, len));
      at = next + len;
      if (!partial) break;
    }
    packets.push({ tag, body: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts) });
  }
  return packets;
}

function newLength(buf: Buffer, at: number): { len: number; partial: boolean; next: number } {
  const b = buf[at];
  if (b === undefined) throw corrupt('truncated packet length');
  if (b < 192) return { len: b, partial: false, next: at + 1 };
  if (b < 224) {
    const b2 = buf[at + 1];
    if (b2 === undefined) throw corrupt('truncated packet length');
    return { len: ((b - 192) << 8) + b2 + 192, partial: false, next: at + 2 };
  }
  if (b === 255) {
    if (at + 5 > buf.length) throw corrupt('truncated packet length');
    return { len: buf.readUInt32BE(at + 1), partial: false, next: at + 5 };
  }
  return { len: 1 << (b & 0x1f), partial: true, next: at + 1 };
}

function take(buf: Buffer, at: number, len: number): Buffer {
  if (at + len > buf.length) throw corrupt('truncated packet');
  return buf.subarray(at, at + len);
}

/** A new-format packet with a definite length. */
function packet(tag: number, body: Buffer): Buffer {
  const n = body.length;
  let len: Buffer;
  if (n < 192) len = Buffer.from([n]);
  else if (n < 8384) len = Buffer.from([((n - 192) >> 8) + 192, (n - 192) & 0xff]);
  else {
    len = Buffer.alloc(5);
    len[0] = 255;
    len.writeUInt32BE(n, 1);
  }
  return Buffer.concat([Buffer.from([0xc0 | tag]), len, body]);
}
