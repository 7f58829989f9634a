export { parseWav, encodeWav, writeWavAtomic } from './wav.js';
export type { ParsedWav, WavFormat, WriteWavOptions } from './wav.js';
export {
  alawDecode,
  alawEncode,
  alawToLinear,
  linearToAlaw,
  linearToMulaw,
  mulawDecode,
  mulawEncode,
  mulawToLinear,
} from './g711.js';
export { resample, createResampler } from './resample.js';
export type { Resampler } from './resample.js';
export {
  DEFAULT_SPEECH_THRESHOLD,
  createEnergyVad,
  frameEnergy,
  hasSpeech,
  scaledSilenceThreshold,
  voicedMs,
} from './energy.js';
export type { EnergyVad, EnergyVadOptions, SpeechOptions, VadEvent } from './energy.js';
export {
  FRAME_MS,
  createFramer,
  createPcm16Decoder,
  frameBytes,
  frameSamples,
  pcm16FromBytes,
  pcm16ToBytes,
  splitFrames,
} from './frames.js';
export type { Framer, Pcm16Chunk, Pcm16Decoder } from './frames.js';
