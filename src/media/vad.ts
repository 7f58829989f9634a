import type { Logger } from 'pino';
import { DEFAULT_SPEECH_THRESHOLD, scaledSilenceThreshold } from '../audio/energy.js';
import { energyClassifier, type FrameClassifier } from './endpointer.js';
import type { SileroModel, SileroRateHz } from './silero-vad.js';

export interface VadClassifiers {
  /** A classifier of its own for one call at this rate; undefined when Silero cannot run (use energy). */
  classifier(rateHz: SileroRateHz): Promise<FrameClassifier | undefined>;
  close(): Promise<void>;
}

/**
 * The daemon's Silero (chosen by the figures in docs/PERFORMANCE.md, "VAD: energy vs Silero"): one model per
 * rate, loaded on the first full-duplex call at that rate and shared by every call after it; each call gets a
 * VAD state of its own. onnxruntime is imported only then, so a platform where its native add-on cannot load
 * still runs the daemon: that is logged once per rate and those calls use the energy detector. A call whose
 * Silero scoring fails mid-call goes on with the energy detector.
 */
export function createSileroClassifiers(log: Pick<Logger, 'warn' | 'error'>): VadClassifiers {
  const models = new Map<SileroRateHz, Promise<SileroModel | undefined>>();
  const model = (rateHz: SileroRateHz): Promise<SileroModel | undefined> => {
    let m = models.get(rateHz);
    if (m === undefined) {
      m = import('./silero-vad.js')
        .then((mod) => mod.loadSileroModel({ sampleRateHz: rateHz }))
        .catch((err: unknown) => {
          log.warn({ err, rateHz }, 'Silero VAD could not load: full-duplex calls at this rate use energy');
          return undefined;
        });
      models.set(rateHz, m);
    }
    return m;
  };
  return {
    async classifier(rateHz) {
      const m = await model(rateHz);
      if (m === undefined) return undefined;
      const energy = energyClassifier(scaledSilenceThreshold(DEFAULT_SPEECH_THRESHOLD, rateHz));
      let failed = false;
      const vad = m.createVad({
        onError: (err) => {
          failed = true;
          log.error({ err }, 'Silero VAD scoring failed: this call goes on with the energy detector');
        },
      });
      return (frame) => (failed ? energy(frame) : vad.classify(frame));
    },
    async close() {
      for (const m of models.values()) await (await m)?.close();
      models.clear();
    },
  };
}
