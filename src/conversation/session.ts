import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { CallHangupError, isAbort, ProviderError } from '../core/errors.js';
import type { ChatMessage, LlmProvider, SttProvider, ToolCall, TtsProvider } from '../providers/types.js';
import { servedBy } from '../providers/wrap/fallback.js';
import type { ConversationResolution, MessageRole, QueuedRow } from '../store/rows.js';
import type { Heard, Media, MediaKind } from './media.js';
import { buildSystemPrompt, phrasesFor, type Phrases } from './prompts.js';
import { streamReply, type Reply } from './reply.js';
import type { PromptCache } from './speech.js';
import { actionFor, conversationTools, type ToolAction } from './tools.js';
import { Transcript, type MessageLatency } from './transcript.js';

/** The secretary as the conversation needs it (mapped from a v_voice_secretaries row by calls/). */
export interface SecretaryProfile {
  secretaryUuid: string;
  domainUuid: string;
  domainName: string;
  name: string;
  language: string;
  voice?: string;
  systemPrompt: string;
  greeting: string;
  farewell: string;
  maxTurns: number;
  maxSilentTurns: number;
  /** The farewell also comes once the caller's silent recordings add up to this long (since they last spoke). */
  idleTimeoutSeconds: number;
  recordMaxSeconds: number;
  silenceThreshold: number;
  silenceSeconds: number;
  maxCallSeconds: number;
  transferExtension?: string;
  timezone: string;
  processingMode: 'turn_based' | 'realtime' | 'auto';
}

export type Resolution = ConversationResolution;

export interface ConversationDeps {
  media: Media;
  secretary: SecretaryProfile;
  /** `tts` may be absent only when the media does not speak; `stt` only when it hears text. */
  providers: { stt?: SttProvider; llm: LlmProvider; tts?: TtsProvider };
  sink: { enqueue(item: QueuedRow): unknown };
  /** This call's own directory for audio; deleted when the conversation ends. */
  callDir: string;
  prompts: PromptCache;
  caller: { number: string | null; name: string | null; destination: string | null };
  log: Logger;
  clock: Clock;
  /** Fixed-phrase filler ("one moment") after this much silence waiting on providers. Default 2500 ms. */
  fillerAfterMs?: number;
  /** Told each turn's latencies (metrics). */
  onTurn?: (t: TurnLatency) => void;
  /** Aborted when the daemon's drain grace ran out: say the farewell, hang up, resolution `drained`. */
  stopSignal?: AbortSignal;
  /** See ReplyRequest.sentenceStreaming (benchmarks only). */
  sentenceStreaming?: boolean;
  /** The farewell (synthesis and playback) is cut after this long, then the call is hung up. Default 15 s. */
  farewellMaxMs?: number;
  /** Told of each reply once it was spoken (the text console prints it). */
  onReply?: (r: ReplyReport) => void;
}

export interface ReplyReport {
  turn: number;
  /** What the caller heard of it. */
  text: string;
  sentences: number;
  toolCalls: readonly ToolCall[];
  action: ToolAction;
  /** The caller spoke over it: `text` is what they heard. */
  interrupted: boolean;
  llmFirstTokenMs: number | null;
  ttsFirstByteMs: number | null;
  /** From the caller's end of speech to the end of the reply. */
  totalMs: number;
}

export interface TurnLatency {
  providers: { stt: string; llm: string; tts: string };
  sttMs: number;
  llmFirstTokenMs: number | null;
  ttsFirstByteMs: number | null;
  turnMs: number | null;
}

export interface ConversationOutcome {
  conversationUuid: string;
  resolution: Resolution;
  transferredTo: string | null;
  turns: number;
  media: MediaKind;
}

type End = { type: 'end'; resolution: Resolution; transferredTo?: string };

/**
 * A call is a loop of small tasks (jambonz's call session): each runs, then names the next one or the end.
 * A digit, a tool, the caller's silence or a failure picks the next task instead of threading flags through
 * one long function.
 */
type Task =
  | { type: 'greet' }
  | { type: 'listen' }
  | { type: 'heard'; heard: Heard }
  | { type: 'reply'; text: string; speechEndedAt: number; sttMs: number | null }
  | { type: 'silence'; listenedMs: number }
  | { type: 'digit'; digit: string }
  | { type: 'transfer'; resolution: Resolution }
  | { type: 'farewell'; resolution: Resolution };

/**
 * Runs one conversation on a media backend until it ends, writing every row through the sink.
 * Never throws: every ending (hangup, provider failure, limits) becomes a resolution.
 */
export async function runConversation(deps: ConversationDeps): Promise<ConversationOutcome> {
  const { media, secretary: sec, providers, sink, clock, log } = deps;
  const phrases = phrasesFor(sec.language);
  const callCtl = new AbortController();
  const maxTimer = setTimeout(() => callCtl.abort(new Error('max call duration')), sec.maxCallSeconds * 1000);
  const signal = AbortSignal.any([
    media.hangupSignal,
    callCtl.signal,
    ...(deps.stopSignal ? [deps.stopSignal] : []),
  ]);
  const tts = media.speaks ? providers.tts : undefined;
  if (media.speaks && tts === undefined) throw new Error('a media that speaks needs a TTS provider');
  const transcript = new Transcript(sink, clock, {
    domainUuid: sec.domainUuid,
    secretaryUuid: sec.secretaryUuid,
    callUuid: media.callUuid,
    caller: deps.caller,
    // What the call really runs: half duplex on files and the console, the full-duplex cascade otherwise
    // (`realtime`, speech to speech, comes with its providers).
    processingMode: media.kind === 'files' || media.kind === 'text' ? 'turn_based' : 'auto',
  });
  const conversationUuid = transcript.conversationUuid;
  const history: ChatMessage[] = [];
  const canTransfer = sec.transferExtension !== undefined;
  const tools = conversationTools(canTransfer);
  const system = buildSystemPrompt({
    secretaryName: sec.name,
    systemPrompt: sec.systemPrompt,
    language: sec.language,
    canTransfer,
    now: transcript.startedAt,
    timezone: sec.timezone,
  });
  const callLog = log.child({ conversation: conversationUuid });
  let turn = 0;
  let silentTurns = 0;
  let silentMs = 0;
  let filler: Promise<string> | undefined;

  const message = (role: MessageRole, content: string, extra: MessageLatency = {}): void =>
    transcript.message(turn, role, content, extra);

  const phraseOpts = {
    rateHz: media.sampleRateHz,
    language: sec.language,
    ...(sec.voice ? { voice: sec.voice } : {}),
  };
  /** Says a fixed phrase (cached on disk); resolves with the terminator digit, if the caller pressed one. */
  const say = async (text: string, sig: AbortSignal): Promise<string | undefined> => {
    const file = tts ? await deps.prompts.get(tts, text, { ...phraseOpts, signal: sig }) : undefined;
    const r = await media.play(
      file === undefined ? { text, phrase: true } : { text, file, phrase: true },
      sig,
    );
    return r.digit;
  };
  const goodbye = async (sig: AbortSignal): Promise<void> => {
    // A farewell that never finishes (a stuck playback, a TTS that never answers) must not keep the call.
    const cap = AbortSignal.timeout(deps.farewellMaxMs ?? 15_000);
    await say(sec.farewell || phrases.farewell, AbortSignal.any([sig, cap])).catch((err: unknown) => {
      if (!cap.aborted || sig.aborted) return swallowUnlessHangup(err);
      callLog.warn({ farewellMaxMs: deps.farewellMaxMs ?? 15_000 }, 'farewell took too long: hanging up');
      return undefined;
    });
    await media.hangup('NORMAL_CLEARING');
  };
  const afterPhrase = (digit: string | undefined, next: Task): Task =>
    digit === undefined ? next : { type: 'digit', digit };

  const tasks: {
    [K in Task['type']]: (t: Extract<Task, { type: K }>, sig: AbortSignal) => Promise<Task | End>;
  } = {
    async greet(_t, sig) {
      await mkdir(deps.callDir, { recursive: true });
      await media.answer(sig);
      const greeting = sec.greeting || phrases.greeting;
      message('assistant', greeting, tts ? { tts_provider: tts.info.vendor } : {});
      // Warm the filler phrase while the greeting plays, so a slow first turn can use it at once.
      if (tts) {
        filler = deps.prompts.get(tts, phrases.oneMoment, { ...phraseOpts, signal: sig });
        filler.catch(() => undefined);
      }
      return afterPhrase(await say(greeting, sig), { type: 'listen' });
    },

    async listen(_t, sig) {
      if (turn >= sec.maxTurns) {
        callLog.info({ turns: turn }, 'max turns reached');
        return { type: 'transfer', resolution: 'max_turns' };
      }
      const heard = await media.listen(
        {
          file: path.join(deps.callDir, `caller-${turn + 1}-${silentTurns}.wav`),
          maxSeconds: sec.recordMaxSeconds,
          silenceThreshold: sec.silenceThreshold,
          silenceSeconds: sec.silenceSeconds,
        },
        sig,
      );
      return { type: 'heard', heard };
    },

    async heard({ heard }, sig) {
      switch (heard.type) {
        case 'digit':
          return { type: 'digit', digit: heard.digit };
        case 'end':
          return { type: 'farewell', resolution: 'completed' };
        case 'silence':
          callLog.info({ silentTurns: silentTurns + 1, recordMs: heard.listenedMs }, 'caller silent');
          return { type: 'silence', listenedMs: heard.listenedMs };
        case 'text':
          return {
            type: 'reply',
            text: heard.text.trim(),
            speechEndedAt: heard.speechEndedAt,
            sttMs: heard.sttMs ?? null,
          };
        case 'audio': {
          if (!providers.stt) throw new Error('a media that hears audio needs an STT provider');
          const sttStart = clock.monotonicMs();
          const t = await providers.stt.transcribe(heard.audio, { language: sec.language }, sig);
          const sttMs = Math.round(clock.monotonicMs() - sttStart);
          const text = t.text.trim();
          if (text === '') {
            callLog.info({ silentTurns: silentTurns + 1, sttMs }, 'transcript empty');
            return { type: 'silence', listenedMs: heard.listenedMs };
          }
          return { type: 'reply', text, speechEndedAt: heard.speechEndedAt, sttMs };
        }
      }
    },

    async silence({ listenedMs }, sig) {
      silentTurns++;
      silentMs += listenedMs;
      if (silentTurns >= sec.maxSilentTurns || silentMs >= sec.idleTimeoutSeconds * 1000) {
        return { type: 'farewell', resolution: 'silence' };
      }
      return afterPhrase(await say(phrases.stillThere, sig), { type: 'listen' });
    },

    async digit({ digit }) {
      return digit === '0'
        ? { type: 'transfer', resolution: 'transferred' }
        : { type: 'farewell', resolution: 'completed' };
    },

    async reply(t, sig) {
      if (t.text === '') return { type: 'silence', listenedMs: 0 };
      silentTurns = 0;
      silentMs = 0;
      turn++;
      const stt = providers.stt && t.sttMs !== null ? servedBy(providers.stt).vendor : undefined;
      message('user', t.text, stt === undefined ? {} : { stt_provider: stt, stt_ms: t.sttMs });
      history.push({ role: 'user', content: t.text });
      callLog.info({ turn, sttMs: t.sttMs, pii: { text: t.text } }, 'caller said');

      const reply: Reply = await streamReply({
        llm: providers.llm,
        ...(tts ? { tts } : {}),
        media,
        system,
        history,
        tools,
        language: sec.language,
        ...(sec.voice ? { voice: sec.voice } : {}),
        dir: deps.callDir,
        turn,
        speechEndedAt: t.speechEndedAt,
        fillerAfterMs: deps.fillerAfterMs ?? 2500,
        ...(deps.sentenceStreaming === undefined ? {} : { sentenceStreaming: deps.sentenceStreaming }),
        ...(filler ? { filler: { text: phrases.oneMoment, file: () => filler as Promise<string> } } : {}),
        signal: sig,
        clock,
        log: callLog,
      });
      // Cut short (a digit, the caller speaking over it): only what the caller heard. Otherwise the reply.
      const cut = reply.interrupted || reply.terminator !== undefined;
      const spoken = cut ? reply.spokenText : reply.spokenText || reply.fullText;
      const llmVendor = servedBy(providers.llm).vendor;
      const ttsVendor = tts ? servedBy(tts).vendor : undefined;
      if (spoken !== '') {
        history.push({ role: 'assistant', content: spoken });
        message('assistant', spoken, {
          llm_provider: llmVendor,
          llm_first_token_ms: reply.llmFirstTokenMs,
          ...(ttsVendor === undefined
            ? {}
            : { tts_provider: ttsVendor, tts_first_byte_ms: reply.ttsFirstByteMs }),
          turn_ms: reply.turnMs,
          ...(reply.interrupted ? { interrupted: true } : {}),
        });
      }
      deps.onTurn?.({
        providers: { stt: stt ?? 'none', llm: llmVendor, tts: ttsVendor ?? 'none' },
        sttMs: t.sttMs ?? 0,
        llmFirstTokenMs: reply.llmFirstTokenMs,
        ttsFirstByteMs: reply.ttsFirstByteMs,
        turnMs: reply.turnMs,
      });
      // A reply the caller talked over is not acted on: they said something else, which comes next.
      const toolCalls = reply.interrupted ? [] : reply.toolCalls;
      for (const call of toolCalls)
        message('tool', JSON.stringify({ name: call.name, arguments: call.arguments }));
      callLog.info(
        {
          turn,
          llmFirstTokenMs: reply.llmFirstTokenMs,
          ttsFirstByteMs: reply.ttsFirstByteMs,
          turnMs: reply.turnMs,
          tools: toolCalls.map((c) => c.name),
          interrupted: reply.interrupted,
          pii: { text: spoken },
        },
        reply.interrupted ? 'caller interrupted the secretary' : 'secretary replied',
      );
      const action = actionFor(
        toolCalls.map((c) => c.name),
        canTransfer,
      );
      deps.onReply?.({
        turn,
        text: spoken,
        sentences: reply.sentences,
        toolCalls,
        action,
        interrupted: reply.interrupted,
        llmFirstTokenMs: reply.llmFirstTokenMs,
        ttsFirstByteMs: reply.ttsFirstByteMs,
        totalMs: Math.max(0, Math.round(clock.monotonicMs() - t.speechEndedAt)),
      });
      if (reply.terminator !== undefined) return { type: 'digit', digit: reply.terminator };
      if (action.type === 'transfer') return { type: 'transfer', resolution: 'transferred' };
      if (action.type === 'end_call') return { type: 'farewell', resolution: 'completed' };
      return { type: 'listen' };
    },

    /** Hands the caller to the operator, or says there is none and says goodbye. */
    async transfer({ resolution }, sig) {
      if (sec.transferExtension === undefined) {
        await say(phrases.noOperator, sig).catch(swallowUnlessHangup);
        // Nobody took the call: the row must not say it was transferred.
        return { type: 'farewell', resolution: resolution === 'transferred' ? 'completed' : resolution };
      }
      await say(phrases.transferring, sig).catch(swallowUnlessHangup);
      await media.transfer(sec.transferExtension, sec.domainName, sig);
      return {
        type: 'end',
        resolution: resolution === 'error' || resolution === 'max_turns' ? resolution : 'transferred',
        transferredTo: sec.transferExtension,
      };
    },

    async farewell({ resolution }, sig) {
      await goodbye(sig);
      return { type: 'end', resolution };
    },
  };

  /** Runs tasks from `first` until one ends the conversation. */
  const run = async (first: Task, sig: AbortSignal): Promise<End> => {
    let step: Task | End = first;
    while (step.type !== 'end') {
      const task: Task = step;
      step = await (tasks[task.type] as (t: Task, s: AbortSignal) => Promise<Task | End>)(task, sig);
    }
    return step;
  };

  let end: End;
  try {
    end = await run({ type: 'greet' }, signal);
  } catch (err) {
    end = await recover(err);
  } finally {
    clearTimeout(maxTimer);
  }

  async function recover(err: unknown): Promise<End> {
    // The time limit came first: whatever ended the call after it (our own hangup or kill, the caller during
    // the farewell), the call ended because of the limit.
    if (callCtl.signal.aborted && !deps.stopSignal?.aborted) {
      callLog.info({ maxCallSeconds: sec.maxCallSeconds }, 'max call duration reached');
      return media.hangupSignal.aborted ? { type: 'end', resolution: 'timeout' } : farewellAfter('timeout');
    }
    if (media.hangupSignal.aborted || err instanceof CallHangupError) {
      callLog.info({ turns: turn }, 'caller hung up');
      return { type: 'end', resolution: 'caller_hangup' };
    }
    if (deps.stopSignal?.aborted) {
      callLog.info({ turns: turn }, 'daemon draining: ending the call');
      return farewellAfter('drained');
    }
    if (err instanceof ProviderError) {
      callLog.error(
        { vendor: err.vendor, status: err.status, retryable: err.retryable, err },
        'provider failed',
      );
    } else if (!isAbort(err)) {
      callLog.error({ err }, 'conversation failed');
    }
    // Apologize, then hand over to a human (or say goodbye): never leave the caller in silence.
    try {
      await say(phrases.apology, media.hangupSignal).catch(swallowUnlessHangup);
      return await run({ type: 'transfer', resolution: 'error' }, media.hangupSignal);
    } catch (e) {
      if (media.hangupSignal.aborted) return { type: 'end', resolution: 'caller_hangup' };
      callLog.error({ err: e }, 'apology failed');
      await media.hangup('NORMAL_TEMPORARY_FAILURE').catch(() => undefined);
      return { type: 'end', resolution: 'error' };
    }
  }

  async function farewellAfter(resolution: Resolution): Promise<End> {
    try {
      await goodbye(media.hangupSignal);
    } catch {
      if (media.hangupSignal.aborted && resolution !== 'timeout')
        return { type: 'end', resolution: 'caller_hangup' };
    }
    return { type: 'end', resolution };
  }

  // The call's audio goes before its end row, so whoever sees the end sees no leftover files.
  await rm(deps.callDir, { recursive: true, force: true }).catch((err: unknown) =>
    callLog.warn({ err }, 'could not delete call audio'),
  );
  transcript.end(end.resolution, turn, end.transferredTo ?? null, media.kind);
  callLog.info(
    { resolution: end.resolution, turns: turn, transferredTo: end.transferredTo, media: media.kind },
    'conversation ended',
  );
  return {
    conversationUuid,
    resolution: end.resolution,
    transferredTo: end.transferredTo ?? null,
    turns: turn,
    media: media.kind,
  };
}

/** Fixed phrases are best effort, but a hangup must still end the conversation. */
function swallowUnlessHangup(err: unknown): undefined {
  if (err instanceof CallHangupError) throw err;
  if (isAbort(err)) throw err;
  return undefined;
}

export type { Phrases };
