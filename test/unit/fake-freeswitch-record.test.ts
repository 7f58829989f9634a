/**
 * The fake's `record`: a WAV at the channel read rate from the scripted caller, silence detection per 20 ms
 * frame as switch_ivr_record_file does it (mean |sample| scaled by rate/8000 against the threshold, hits in
 * seconds, silence counted from the start), time limit, terminators, hangups and unopenable paths.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import type { CallerStep, FakeFreeSwitch, PlaceCallOptions } from '../fakes/fake-freeswitch/index.js';
import { ev, execute, openSession } from '../fakes/fake-freeswitch/test-session.js';
import type { RawSession } from '../fakes/fake-freeswitch/test-session.js';
import { readAudioFile } from '../fakes/fake-freeswitch/wav.js';

const SALES_8K = join(import.meta.dirname, '../fixtures/audio/fake-fs-sales-8k.wav');
const SALES_16K = join(import.meta.dirname, '../fixtures/audio/fake-fs-sales-16k.wav');

let fake: FakeFreeSwitch;
let dir: string;
const sessions: RawSession[] = [];

beforeEach(async () => {
  fake = await startFakeFreeSwitch({ speed: 20 });
  dir = mkdtempSync(join(tmpdir(), 'fake-fs-record-'));
});
afterEach(async () => {
  for (const s of sessions.splice(0)) await s.close();
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function session(
  script: CallerStep[],
  opts: Omit<PlaceCallOptions, 'target' | 'script'> = {},
): Promise<RawSession> {
  const s = await openSession(fake, { answered: true, script, ...opts });
  sessions.push(s);
  return s;
}

/** Runs `record <file> <args>` and returns its EXECUTE_COMPLETE. */
async function record(s: RawSession, args: string): Promise<{ file: string; done: Record<string, string> }> {
  const file = join(dir, `rec-${sessions.length}-${Math.random().toString(36).slice(2)}.wav`);
  const from = s.client.frames.length;
  await s.cmd(execute('record', `${file} ${args}`));
  const done = await s.event('CHANNEL_EXECUTE_COMPLETE', { Application: 'record' }, from, 20_000);
  const vars = Object.fromEntries(
    (done.event?.headers ?? [])
      .filter(([n]) => n.startsWith('variable_'))
      .map(([n]) => [n.slice(9), ev(done, n) ?? '']),
  );
  return { file, done: vars };
}

/** PCM of constant |amplitude| (alternating sign), `ms` long. */
function tone(amplitude: number, ms: number, rate: number): CallerStep {
  const pcm = new Int16Array((rate * ms) / 1000);
  for (let i = 0; i < pcm.length; i++) pcm[i] = i % 2 === 0 ? amplitude : -amplitude;
  return { type: 'speak', pcm, sampleRateHz: rate };
}

describe('fake FreeSWITCH record', () => {
  it('records the caller at 8 kHz and stops 2 s after the speech, as recorded (record_ms 3720)', async () => {
    const s = await session([{ type: 'speak', wavPath: SALES_8K }]);
    const { file, done } = await record(s, '15 200 2');
    expect(done).toMatchObject({
      silence_hits_exhausted: 'true',
      record_ms: '3720',
      record_samples: '29760',
      record_seconds: '3',
      record_file_size: '59564',
      record_record_file_size: '59564',
      read_codec: 'L16',
      read_rate: '8000',
    });
    const wav = readAudioFile(file);
    expect(wav.sampleRateHz).toBe(8000);
    expect(wav.samples.length).toBe(29760);
    expect(s.call.recordings).toEqual([file]);
    // RECORD_START and RECORD_STOP, before the EXECUTE_COMPLETE, carry the file path.
    const names = s.names();
    expect(names.indexOf('RECORD_START')).toBeGreaterThan(names.indexOf('CHANNEL_EXECUTE record'));
    expect(names.indexOf('RECORD_STOP')).toBeLessThan(names.indexOf('CHANNEL_EXECUTE_COMPLETE record'));
    expect(ev(await s.event('RECORD_STOP'), 'Record-File-Path')).toBe(file);
  });

  it('writes at the channel rate: a G722 (16 kHz) channel gives a 16 kHz WAV', async () => {
    const s = await session([{ type: 'speak', wavPath: SALES_16K }], { readCodec: 'G722' });
    const { file, done } = await record(s, '15 200 2');
    expect(readAudioFile(file).sampleRateHz).toBe(16000);
    expect(done.record_ms).toBe('3720');
    expect(done.read_rate).toBe('16000');
  });

  it('scores frames as rate/8000 x mean |sample|: |150| is silence at 8 kHz, speech at 16 kHz', async () => {
    const at8k = await session([tone(150, 3000, 8000)]);
    const r8 = await record(at8k, '2 200 1');
    // Silent from the first frame: 50 hits (1 s) end it; the 49 frames before the last are written.
    expect(r8.done).toMatchObject({ silence_hits_exhausted: 'true', record_ms: '980' });

    const at16k = await session([tone(150, 3000, 16000)], { readCodec: 'L16', readRateHz: 16000 });
    const r16 = await record(at16k, '2 200 1');
    // 2 x 150 = 300 >= 200: never silent, so the 2 s limit ends it (checked before each frame: > 2000 ms).
    expect(r16.done).toMatchObject({ silence_hits_exhausted: 'false', record_ms: '2020' });
  });

  it('counts silence from the start: a caller who waits longer than the hits records (almost) nothing', async () => {
    const cng = await session([]);
    const none = await record(cng, '15 200 2');
    // Comfort noise only: 100 silent frames and nothing written.
    expect(none.done).toMatchObject({ silence_hits_exhausted: 'true', record_ms: '0', record_samples: '0' });
    expect(readAudioFile(none.file).samples.length).toBe(0);

    const quiet = await session([
      { type: 'silence', ms: 2500 },
      { type: 'speak', wavPath: SALES_8K },
    ]);
    const late = await record(quiet, '15 200 2');
    // Digital silence is written: 99 frames, then the 100th silent frame ends it before the speech.
    expect(late.done).toMatchObject({ silence_hits_exhausted: 'true', record_ms: '1980' });
  });

  it('stops on the time limit; a 0 threshold disables silence detection', async () => {
    const s = await session([tone(3000, 5000, 8000)]);
    const { done } = await record(s, '1 0 0');
    expect(done).toMatchObject({ silence_hits_exhausted: 'false', record_ms: '1020' });
  });

  it('a terminator DTMF during the record stops it and sets playback_terminator_used', async () => {
    const s = await session([
      tone(3000, 1000, 8000),
      { type: 'dtmf', digit: '*', when: 'during_record' },
      tone(3000, 5000, 8000),
    ]);
    const { done } = await record(s, '30 200 3');
    expect(done).toMatchObject({ playback_terminator_used: '*', record_ms: '1000' });
    expect(s.names()).toContain('DTMF');
  });

  it('the caller hanging up mid-record: CHANNEL_HANGUP, RECORD_STOP, then EXECUTE_COMPLETE; the file keeps the speech', async () => {
    const s = await session([
      { type: 'speak', wavPath: SALES_8K },
      { type: 'hangup', when: 'during_record' },
    ]);
    const { file } = await record(s, '30 200 3');
    const names = s.names();
    expect(names.indexOf('CHANNEL_HANGUP')).toBeLessThan(names.indexOf('RECORD_STOP'));
    expect(names.indexOf('RECORD_STOP')).toBeLessThan(names.indexOf('CHANNEL_EXECUTE_COMPLETE record'));
    expect(readAudioFile(file).samples.length).toBe(29760);
    expect((await s.call.ended).hangupCause).toBe('NORMAL_CLEARING');
  });

  it('an unopenable path hangs the call up DESTINATION_OUT_OF_ORDER', async () => {
    const s = await session([]);
    const from = s.client.frames.length;
    await s.cmd(execute('record', '/nonexistent-dir/x/rec.wav 15 200 2'));
    await s.event('CHANNEL_EXECUTE_COMPLETE', { Application: 'record' }, from);
    const hangup = await s.event('CHANNEL_HANGUP', {}, from);
    expect(ev(hangup, 'Hangup-Cause')).toBe('DESTINATION_OUT_OF_ORDER');
    const names = s.names();
    const exec = names.indexOf('CHANNEL_EXECUTE record');
    expect(names.slice(exec, exec + 3)).toEqual([
      'CHANNEL_EXECUTE record',
      'CHANNEL_HANGUP',
      'CHANNEL_EXECUTE_COMPLETE record',
    ]);
    expect(await s.call.ended).toMatchObject({ hangupCause: 'DESTINATION_OUT_OF_ORDER' });
  });
});
