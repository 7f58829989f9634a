/**
 * Dialplan applications the daemon runs with sendmsg: answer, playback, record, sleep, hangup, transfer,
 * break, set/unset. Semantics follow mod_dptools and switch_ivr_play_say.c (FreeSWITCH 1.10).
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { CallerScript } from './caller.js';
import type { Channel } from './channel.js';
import type { RunControl } from './runtime.js';
import type { HeaderValue } from './wire.js';
import { readAudioFile, writeWav } from './wav.js';

export interface AppEnv {
  channel: Channel;
  ctl: RunControl;
  caller: CallerScript;
  recordDir: string;
  fireChannel(name: string, extra?: Array<[string, HeaderValue]>): void;
  fireDtmf(digit: string): void;
  /** Hangs the channel up: CHANNEL_HANGUP fires before this returns. */
  hangup(cause: string): void;
  /** Waits this much call time (scaled by speed), or less when the run control is woken. */
  wait(callMs: number): Promise<void>;
  callTimeMs(): number;
  transfer(destination: string, dialplan: string | undefined, context: string | undefined): void;
  /** Sets CF_BREAK on the other running applications (the `break` app). */
  breakOthers(): void;
  recordings: string[];
  /** Frames a record reads, for an attached audio stream. */
  tapFrame(samples: Int16Array): void;
}

export type AppFn = (env: AppEnv, arg: string) => Promise<void>;

type Status = 'success' | 'break' | 'false';

/** Default `*`; `any` = all digits; `none` = no terminator (on_dtmf in mod_dptools). */
function isTerminator(channel: Channel, digit: string): boolean {
  const v = channel.vars.get('playback_terminators') ?? '*';
  if (v.toLowerCase() === 'none') return false;
  const set = v.toLowerCase() === 'any' ? '1234567890*#' : v;
  return set.includes(digit);
}

/** Drains DTMF queued for the running app: each fires its event; a terminator breaks the app. */
function takeDtmf(env: AppEnv): boolean {
  for (let d = env.ctl.dtmf.shift(); d !== undefined; d = env.ctl.dtmf.shift()) {
    env.fireDtmf(d);
    if (isTerminator(env.channel, d)) {
      env.channel.vars.set('playback_terminator_used', d);
      return true;
    }
  }
  return false;
}

interface Media {
  durationMs: number;
  /** Samples at the file's own rate, and that rate (playback_* variables count these). */
  samples: number;
  rateHz: number;
  params: Array<[string, string]>;
  fileType?: string;
}

/** Splits leading `{k=v,k2=v2}` blocks off a file argument. */
function splitParams(file: string): { path: string; params: Array<[string, string]> } {
  const params: Array<[string, string]> = [];
  let rest = file;
  while (rest.startsWith('{')) {
    const end = rest.indexOf('}');
    if (end < 0) break;
    for (const kv of rest.slice(1, end).split(',')) {
      const eq = kv.indexOf('=');
      if (eq > 0) params.push([kv.slice(0, eq), kv.slice(eq + 1)]);
    }
    rest = rest.slice(end + 1).replace(/^ +/, '');
  }
  return { path: rest, params };
}

function resolveMedia(file: string, channelRate: number, baseDir: string): Media | undefined {
  const { path, params } = splitParams(file);
  if (path.startsWith('silence_stream://')) {
    const ms = Number.parseInt(path.slice('silence_stream://'.length), 10);
    const durationMs = ms > 0 ? ms : Number.POSITIVE_INFINITY;
    return {
      durationMs,
      samples: Math.round((durationMs * channelRate) / 1000),
      rateHz: channelRate,
      params,
    };
  }
  if (path.startsWith('tone_stream://')) {
    const m = /%\((\d+),(\d+)/.exec(path);
    const durationMs = m ? Number(m[1]) + Number(m[2]) : 1000;
    const samples = Math.round((durationMs * channelRate) / 1000);
    return { durationMs, samples, rateHz: channelRate, params, fileType: 'tone_stream' };
  }
  if (/^[a-z_]+:\/\//i.test(path)) return undefined;
  const full = isAbsolute(path) ? path : join(baseDir, path);
  if (!existsSync(full)) return undefined;
  try {
    const pcm = readAudioFile(full);
    const durationMs = (pcm.samples.length * 1000) / pcm.sampleRateHz;
    return { durationMs, samples: pcm.samples.length, rateHz: pcm.sampleRateHz, params };
  } catch {
    return undefined;
  }
}

const playback: AppFn = async (env, arg) => {
  const { channel, ctl } = env;
  channel.vars.delete('playback_terminator_used');
  const media = resolveMedia(arg, channel.rateHz, env.recordDir);
  if (!media) {
    channel.vars.set('current_application_response', 'FILE NOT FOUND');
    return;
  }
  const typeHeader: Array<[string, HeaderValue]> = media.fileType
    ? [['Playback-File-Type', media.fileType]]
    : [];
  env.fireChannel('PLAYBACK_START', [...typeHeader, ['Playback-File-Path', arg], ...media.params]);
  env.caller.onPlaybackStart(media.durationMs);
  const start = env.callTimeMs();
  let status: Status = 'success';
  for (;;) {
    if (!channel.up) {
      status = 'false';
      break;
    }
    if (ctl.brk) {
      ctl.brk = false;
      status = 'break';
      break;
    }
    if (takeDtmf(env)) {
      status = 'break';
      break;
    }
    const left = media.durationMs - (env.callTimeMs() - start);
    if (left <= 0) break;
    await env.wait(left);
  }
  env.caller.onPlaybackEnd();
  let samples = media.samples;
  if (status !== 'success') {
    const playedMs = Math.min(env.callTimeMs() - start, media.durationMs);
    const frame = media.rateHz / 50;
    samples = Math.min(media.samples, Math.floor((playedMs * media.rateHz) / 1000 / frame) * frame);
  }
  const v = channel.vars;
  v.set('playback_last_offset_pos', String(samples));
  v.set('playback_seconds', String(Math.floor(samples / media.rateHz)));
  v.set('playback_ms', String(Math.floor(samples / (media.rateHz / 1000))));
  v.set('playback_samples', String(samples));
  env.fireChannel('PLAYBACK_STOP', [
    ...typeHeader,
    ['Playback-File-Path', arg],
    ['Playback-Status', status === 'break' ? 'break' : 'done'],
    ...media.params,
  ]);
  v.set('current_application_response', status === 'false' ? 'PLAYBACK ERROR' : 'FILE PLAYED');
};

/** `record <path> [<limit_secs>] [<silence_thresh>] [<silence_hits>]` (switch_ivr_record_file). */
const record: AppFn = async (env, arg) => {
  const { channel, ctl } = env;
  const [path = '', limitArg, threshArg, hitsArg] = arg.split(/ +/);
  if (path.length === 0) return;
  const limitS = limitArg ? Number.parseInt(limitArg.replace(/^\+/, ''), 10) || 0 : 0;
  const thresh = threshArg ? Number.parseInt(threshArg, 10) || 0 : 0;
  const hitsS = hitsArg ? Number.parseInt(hitsArg, 10) || 0 : 0;
  const file = isAbsolute(path) ? path : join(env.recordDir, path);
  try {
    closeSync(openSync(file, 'w'));
  } catch {
    // switch_core_file_open failed: FreeSWITCH hangs the call up.
    env.hangup('DESTINATION_OUT_OF_ORDER');
    return;
  }
  const v = channel.vars;
  v.delete('playback_terminator_used');
  v.set('silence_hits_exhausted', 'false');
  channel.setCodecVars('L16');
  const rate = channel.rateHz;
  const perFrame = rate / 50;
  const divisor = Math.max(1, Math.floor(rate / 8000));
  const orgHits = thresh > 0 ? Math.floor((rate * (hitsS > 0 ? hitsS : 3)) / perFrame) : 0;
  let hitsLeft = orgHits;
  env.fireChannel('RECORD_START', [['Record-File-Path', file]]);
  const written: Int16Array[] = [];
  let writtenSamples = 0;
  let frames = 0;
  const start = env.callTimeMs();
  let done = false;
  while (!done) {
    const due = Math.floor((env.callTimeMs() - start) / 20);
    while (frames < due) {
      if (!channel.up) {
        done = true;
        break;
      }
      if (ctl.brk) {
        ctl.brk = false;
        done = true;
        break;
      }
      if (limitS > 0 && frames * 20 > limitS * 1000) {
        done = true;
        break;
      }
      if (takeDtmf(env)) {
        done = true;
        break;
      }
      const frame = env.caller.nextFrame('record');
      // A key the caller pressed at this point of the audio is seen before the frame is used.
      if (!frame || takeDtmf(env)) {
        done = true;
        break;
      }
      frames++;
      env.tapFrame(frame.samples);
      if (thresh > 0) {
        let energy = 0;
        for (const s of frame.samples) energy += Math.abs(s);
        const score = Math.floor(energy / (frame.samples.length / divisor));
        if (score < thresh) {
          if (--hitsLeft === 0) {
            v.set('silence_hits_exhausted', 'true');
            done = true;
            break;
          }
        } else {
          hitsLeft = orgHits;
        }
      }
      if (!frame.cng) {
        written.push(frame.samples);
        writtenSamples += frame.samples.length;
      }
    }
    if (!done) await env.wait(20);
  }
  const all = new Int16Array(writtenSamples);
  let off = 0;
  for (const chunk of written) {
    all.set(chunk, off);
    off += chunk.length;
  }
  const size = writeWav(file, all, rate);
  env.recordings.push(file);
  v.set('record_record_file_size', String(size));
  v.set('record_file_size', String(size));
  v.set('record_seconds', String(Math.floor(writtenSamples / rate)));
  v.set('record_ms', String(Math.floor(writtenSamples / (rate / 1000))));
  v.set('record_samples', String(writtenSamples));
  env.fireChannel('RECORD_STOP', [['Record-File-Path', file]]);
  channel.setCodecVars();
};

const answer: AppFn = async (env) => {
  const { channel } = env;
  if (channel.answered || !channel.up) return;
  channel.markAnswered();
  env.fireChannel('CHANNEL_ANSWER');
  channel.callState = 'ACTIVE';
  channel.vars.set('endpoint_disposition', 'ANSWER');
};

const sleep: AppFn = async (env, arg) => {
  const ms = Number.parseInt(arg, 10) || 0;
  const start = env.callTimeMs();
  for (;;) {
    if (!env.channel.up) return;
    if (env.ctl.brk) {
      env.ctl.brk = false;
      return;
    }
    const left = ms - (env.callTimeMs() - start);
    if (left <= 0) return;
    await env.wait(left);
  }
};

const hangup: AppFn = async (env, arg) => {
  env.hangup(arg.trim().length > 0 ? arg.trim() : 'NORMAL_CLEARING');
};

const transfer: AppFn = async (env, arg) => {
  const parts = arg.split(/ +/).filter((p) => p.length > 0);
  if (parts[0] === '-bleg' || parts[0] === '-both') parts.shift();
  const [dest, dialplan, context] = parts;
  if (dest) env.transfer(dest, dialplan, context);
};

const breakApp: AppFn = async (env) => {
  env.breakOthers();
};

const set: AppFn = async (env, arg) => {
  const eq = arg.indexOf('=');
  if (eq > 0) env.channel.vars.set(arg.slice(0, eq), arg.slice(eq + 1));
};

const unset: AppFn = async (env, arg) => {
  env.channel.vars.delete(arg.trim());
};

const noop: AppFn = async () => undefined;

/** Applications by name; `takesDtmf` ones dequeue DTMF themselves (and honour playback_terminators). */
export const APPS: Record<string, { fn: AppFn; takesDtmf: boolean }> = {
  answer: { fn: answer, takesDtmf: false },
  pre_answer: { fn: noop, takesDtmf: false },
  playback: { fn: playback, takesDtmf: true },
  record: { fn: record, takesDtmf: true },
  sleep: { fn: sleep, takesDtmf: false },
  hangup: { fn: hangup, takesDtmf: false },
  transfer: { fn: transfer, takesDtmf: false },
  break: { fn: breakApp, takesDtmf: false },
  set: { fn: set, takesDtmf: false },
  export: { fn: set, takesDtmf: false },
  unset: { fn: unset, takesDtmf: false },
  log: { fn: noop, takesDtmf: false },
  info: { fn: noop, takesDtmf: false },
};
