import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError } from '../../src/core/errors.js';
import { parseWav, writeWavAtomic } from '../../src/audio/wav.js';

describe('writeWavAtomic', () => {
  let dir: string;
  let oldUmask: number;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-audio-'));
    oldUmask = process.umask(0o077); // the strictest umask a service could run with
  });

  afterEach(async () => {
    process.umask(oldUmask);
    await rm(dir, { recursive: true, force: true });
  });

  const samples = Int16Array.from({ length: 800 }, (_, i) => Math.round(8000 * Math.sin(i / 5)));

  it('writes a playable WAV, group-readable whatever the umask, and leaves no temp file', async () => {
    const file = path.join(dir, 'turn-1.wav');
    await expect(writeWavAtomic(file, samples, 8000)).resolves.toBe(file);
    expect((await stat(file)).mode & 0o777).toBe(0o640);
    const parsed = parseWav(await readFile(file));
    expect(parsed.sampleRateHz).toBe(8000);
    expect(Array.from(parsed.samples)).toEqual(Array.from(samples));
    expect(await readdir(dir)).toEqual(['turn-1.wav']);
  });

  it('gets the mode right with and without the chmod (umask 0027 as in the unit, 0002, 0077), durable or not', async () => {
    for (const umask of [0o027, 0o002, 0o077]) {
      process.umask(umask);
      for (const durable of [true, false]) {
        for (const mode of [0o640, 0o660]) {
          const file = path.join(dir, `m-${umask}-${durable}-${mode}.wav`);
          await writeWavAtomic(file, samples, 8000, { mode, durable });
          expect({ umask, durable, mode: (await stat(file)).mode & 0o777 }).toEqual({ umask, durable, mode });
        }
      }
    }
  });

  it('honours an explicit mode', async () => {
    const file = path.join(dir, 'a.wav');
    await writeWavAtomic(file, samples, 16000, { mode: 0o644 });
    expect((await stat(file)).mode & 0o777).toBe(0o644);
  });

  it('replaces an existing file in one step', async () => {
    const file = path.join(dir, 'same.wav');
    await writeFile(file, 'old');
    await writeWavAtomic(file, samples, 8000);
    expect(parseWav(await readFile(file)).samples.length).toBe(800);
    expect(await readdir(dir)).toEqual(['same.wav']);
  });

  it('writes nothing when already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(
      writeWavAtomic(path.join(dir, 'x.wav'), samples, 8000, { signal: ac.signal }),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('fails cleanly when the directory does not exist', async () => {
    await expect(writeWavAtomic(path.join(dir, 'missing', 'x.wav'), samples, 8000)).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(await readdir(dir)).toEqual([]);
  });
});
