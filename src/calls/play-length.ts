import { open } from 'node:fs/promises';

/** What a playback of a file we cannot measure is allowed: longer than any phrase or reply we synthesize. */
export const UNKNOWN_PLAY_MS = 60_000;

/**
 * How long FreeSWITCH will take to play `file`: the data size over the byte rate of its WAV header (the files
 * we play are our own PCM WAVs). UNKNOWN_PLAY_MS when it is not a readable WAV: the bound stays finite.
 */
export async function playLengthMs(file: string): Promise<number> {
  let handle;
  try {
    handle = await open(file, 'r');
    const head = Buffer.alloc(44);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const size = (await handle.stat()).size;
    if (
      bytesRead < 44 ||
      head.toString('latin1', 0, 4) !== 'RIFF' ||
      head.toString('latin1', 8, 12) !== 'WAVE'
    )
      return UNKNOWN_PLAY_MS;
    const byteRate = head.readUInt32LE(28);
    if (byteRate <= 0) return UNKNOWN_PLAY_MS;
    return Math.ceil(((size - 44) * 1000) / byteRate);
  } catch {
    return UNKNOWN_PLAY_MS;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
