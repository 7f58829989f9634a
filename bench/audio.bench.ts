// Audio path costs per call: how many times faster than real time one core resamples TTS output (24 kHz to
// 8 kHz, one shot and in 20 ms streamed chunks), parses WAVs, encodes G.711 and chunks LLM text.
// Run alone with `npx tsx bench/audio.bench.ts`.
import { pathToFileURL } from 'node:url';
import { mulawEncode } from '../src/audio/g711.js';
import { createResampler, resample } from '../src/audio/resample.js';
import { encodeWav, parseWav } from '../src/audio/wav.js';
import { createSentenceChunker } from '../src/conversation/sentence-chunker.js';

// A type alias (not an interface) so it is assignable to Record<string, number> in bench/run.ts.
export type AudioFigures = {
  /** Seconds of 24 kHz audio resampled to 8 kHz per second of CPU, one shot. */
  resample24to8xRealtime: number;
  /** The same, pushed in 20 ms chunks as a TTS stream arrives. */
  streamResample24to8xRealtime: number;
  /** Seconds of 8 kHz audio parsed from WAV per second of CPU. */
  parseWav8kxRealtime: number;
  /** Seconds of 8 kHz audio encoded to mu-law per second of CPU. */
  mulaw8kxRealtime: number;
  /** Characters of LLM text chunked into sentences per millisecond, fed in 4-character deltas. */
  chunkerCharsPerMs: number;
};

function timeIt(minMs: number, fn: () => void): number {
  fn(); // warm up
  let runs = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    fn();
    runs++;
    elapsed = performance.now() - start;
  }
  return elapsed / runs;
}

export async function benchAudio(): Promise<AudioFigures> {
  const seconds = 10;
  const tts = Int16Array.from({ length: 24000 * seconds }, (_, i) => Math.round(8000 * Math.sin(i / 7)));
  const oneShotMs = timeIt(500, () => resample(tts, 24000, 8000));
  const streamMs = timeIt(500, () => {
    const r = createResampler(24000, 8000);
    for (let off = 0; off < tts.length; off += 480) r.push(tts.subarray(off, off + 480));
    r.flush();
  });
  const call = resample(tts, 24000, 8000);
  const wav = encodeWav(call, 8000);
  const parseMs = timeIt(300, () => parseWav(wav));
  const mulawMs = timeIt(300, () => mulawEncode(call));
  const text =
    'Olá! O Dr. João atende na Av. Paulista, nº. 1000, às 14.30. O valor é R$ 1.234,56, aprox. 3,5% a menos. '.repeat(
      50,
    );
  const chunkMs = timeIt(300, () => {
    const c = createSentenceChunker({ language: 'pt-BR' });
    for (let i = 0; i < text.length; i += 4) c.push(text.slice(i, i + 4));
    c.flush();
  });
  return {
    resample24to8xRealtime: (seconds * 1000) / oneShotMs,
    streamResample24to8xRealtime: (seconds * 1000) / streamMs,
    parseWav8kxRealtime: (seconds * 1000) / parseMs,
    mulaw8kxRealtime: (seconds * 1000) / mulawMs,
    chunkerCharsPerMs: text.length / chunkMs,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const figures = await benchAudio();
  for (const [k, v] of Object.entries(figures)) process.stdout.write(`${k.padEnd(30)} ${v.toFixed(0)}\n`);
}
