/**
 * Issue 9 item 6: secrets are encrypted in Node, in pgcrypto's own OpenPGP format, so that no statement
 * carries the key or a plaintext. Both directions are checked against the real pgcrypto.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SecretKeyError } from '../../src/core/errors.js';
import { pgpSymDecrypt, pgpSymEncrypt } from '../../src/store/openpgp.js';
import { testSql } from '../helpers/db.js';

const sql = testSql();
afterAll(async () => {
  await sql.end();
});

const KEY = 'openpgp-test-key-0123456789';
const TEXT = '{"api_key":"sk-ção-🔑-0123456789"}';

async function pgDecrypt(bytes: Buffer, key: string): Promise<string> {
  const [row] = await sql<{ t: string }[]>`SELECT pgp_sym_decrypt(${bytes}::bytea, ${key}::text) AS t`;
  return row?.t ?? '';
}

async function pgEncrypt(text: string, key: string, options?: string): Promise<Buffer> {
  const [row] =
    options === undefined
      ? await sql<{ b: Buffer }[]>`SELECT pgp_sym_encrypt(${text}::text, ${key}::text) AS b`
      : await sql<
          { b: Buffer }[]
        >`SELECT pgp_sym_encrypt(${text}::text, ${key}::text, ${options}::text) AS b`;
  if (row === undefined) throw new Error('no row');
  return row.b;
}

describe('OpenPGP symmetric messages interoperate with pgcrypto', () => {
  it('what Node encrypts, pgp_sym_decrypt opens (and reports the options it finds)', async () => {
    const bytes = pgpSymEncrypt(TEXT, KEY);
    expect(await pgDecrypt(bytes, KEY)).toBe(TEXT);
    const [row] = await sql<{ t: string }[]>`
      SELECT pgp_sym_decrypt(${bytes}::bytea, ${KEY}::text,
        'expect-cipher-algo=aes128, expect-s2k-mode=3, expect-s2k-digest-algo=sha256, expect-disable-mdc=0')
      AS t`;
    expect(row?.t).toBe(TEXT);
    // A longer text too (two-byte packet lengths).
    const long = JSON.stringify({ api_key: 'x'.repeat(5000) });
    expect(await pgDecrypt(pgpSymEncrypt(long, KEY), KEY)).toBe(long);
    await expect(pgDecrypt(bytes, `${KEY}-wrong`)).rejects.toThrow(/Wrong key or corrupt data/);
  });

  it.each([
    ['default options', undefined],
    ['aes256 without compression', 'cipher-algo=aes256, compress-algo=0'],
    ['aes192, s2k sha1 mode 1', 'cipher-algo=aes192, s2k-mode=1, s2k-digest-algo=sha1'],
    ['a separate session key', 'sess-key=1, s2k-cipher-algo=aes256'],
    ['ZIP compression', 'compress-algo=1'],
    ['ZLIB compression', 'compress-algo=2, compress-level=9'],
    ['s2k mode 0', 's2k-mode=0'],
  ])('what pgp_sym_encrypt writes with %s, Node opens', async (_what, options) => {
    expect(pgpSymDecrypt(await pgEncrypt(TEXT, KEY, options), KEY)).toBe(TEXT);
    const long = JSON.stringify({ api_key: 'y'.repeat(20_000) });
    expect(pgpSymDecrypt(await pgEncrypt(long, KEY, options), KEY)).toBe(long);
  });

  it('a wrong key is a clear SecretKeyError, never naming the key', async () => {
    for (const bytes of [pgpSymEncrypt(TEXT, KEY), await pgEncrypt(TEXT, KEY)]) {
      let err: unknown;
      try {
        pgpSymDecrypt(bytes, 'another-key-0123456789');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SecretKeyError);
      expect((err as Error).message).toMatch(/^wrong key or corrupt data/);
      expect((err as Error).message).not.toContain(KEY);
    }
  });

  it('tampering anywhere in the ciphertext is detected (MDC), and pgcrypto agrees', async () => {
    const bytes = pgpSymEncrypt(TEXT, KEY);
    // Every byte after the first cipher block of the encrypted data: the quick check cannot see these.
    for (let i = bytes.length - 30; i < bytes.length; i++) {
      const t = Buffer.from(bytes);
      t[i] = (t[i] ?? 0) ^ 0x01;
      expect(() => pgpSymDecrypt(t, KEY)).toThrow(SecretKeyError);
      await expect(pgDecrypt(t, KEY)).rejects.toThrow(/corrupt data/i);
    }
    expect(() => pgpSymDecrypt(bytes.subarray(0, bytes.length - 5), KEY)).toThrow(SecretKeyError);
    expect(() => pgpSymDecrypt(Buffer.from('not pgp at all'), KEY)).toThrow(SecretKeyError);
  });

  it('refuses data written without integrity protection (disable-mdc=1) with a clear error', async () => {
    const bytes = await pgEncrypt(TEXT, KEY, 'disable-mdc=1');
    expect(() => pgpSymDecrypt(bytes, KEY)).toThrow(/without integrity protection/);
  });
});
