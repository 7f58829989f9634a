import { describe, expect, it } from 'vitest';
import { encodeMultipart } from '../../src/providers/transport/multipart.js';

/** Parses with undici's own multipart parser (what fetch's Response.formData() uses), not ours. */
async function parse(body: Uint8Array, contentType: string): Promise<FormData> {
  return new Response(body, { headers: { 'content-type': contentType } }).formData();
}

describe('encodeMultipart', () => {
  it('round-trips text fields (UTF-8) and a binary file through an independent parser', async () => {
    const data = new Uint8Array(4099);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff; // every byte value, incl. \r \n and "-"
    const { body, contentType } = encodeMultipart([
      { name: 'model', value: 'whisper-1' },
      { name: 'file', filename: 'audio.wav', contentType: 'audio/wav', data: data.subarray(3) },
      { name: 'prompt', value: 'São Paulo, João, Conceição' },
    ]);
    expect(contentType).toMatch(/^multipart\/form-data; boundary=----voice-ai-[0-9a-f]{24}$/);
    const form = await parse(body, contentType);
    expect(form.get('model')).toBe('whisper-1');
    expect(form.get('prompt')).toBe('São Paulo, João, Conceição');
    const file = form.get('file');
    expect(file).toBeInstanceOf(File);
    const f = file as File;
    expect(f.name).toBe('audio.wav');
    expect(f.type).toBe('audio/wav');
    expect(Buffer.from(await f.arrayBuffer()).equals(Buffer.from(data.subarray(3)))).toBe(true);
  });

  it('uses a fresh boundary each time', () => {
    const a = encodeMultipart([{ name: 'x', value: '1' }]).contentType;
    const b = encodeMultipart([{ name: 'x', value: '1' }]).contentType;
    expect(a).not.toBe(b);
  });

  it('refuses a name or filename that would break the header', () => {
    expect(() => encodeMultipart([{ name: 'a"b', value: '1' }])).toThrow(/quote or line break/);
    expect(() =>
      encodeMultipart([{ name: 'f', filename: 'x\r\ny', contentType: 'a/b', data: new Uint8Array(1) }]),
    ).toThrow(/quote or line break/);
  });
});
