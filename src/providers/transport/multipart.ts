import { randomBytes } from 'node:crypto';

export type MultipartField =
  { name: string; value: string } | { name: string; filename: string; contentType: string; data: Uint8Array };

/**
 * A multipart/form-data body (RFC 7578) in one buffer. fetch would encode a FormData itself, but through a
 * stream of Blob parts that costs a millisecond or more per upload on the STT critical path; this is one copy.
 * Field names and filenames are ours (ASCII, no quotes), never a caller's input.
 */
export function encodeMultipart(fields: readonly MultipartField[]): {
  body: Uint8Array;
  contentType: string;
} {
  const boundary = `----voice-ai-${randomBytes(12).toString('hex')}`;
  const parts: Buffer[] = [];
  for (const f of fields) {
    if (/["\r\n]/.test(f.name) || ('filename' in f && /["\r\n]/.test(f.filename))) {
      throw new TypeError(`multipart field name or filename with a quote or line break: ${f.name}`);
    }
    if ('data' in f) {
      parts.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"; filename="${f.filename}"\r\n` +
            `Content-Type: ${f.contentType}\r\n\r\n`,
        ),
        Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength),
        Buffer.from('\r\n'),
      );
    } else {
      parts.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"\r\n\r\n${f.value}\r\n`,
          'utf8',
        ),
      );
    }
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}
