import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { hasSpeech, scaledSilenceThreshold } from '../audio/energy.js';
import { parseWav } from '../audio/wav.js';
import type { Clock } from '../core/clock.js';
import { CallHangupError, isAbort, ProviderError } from '../core/errors.js';
import type { ChatMessage, LlmProvider, SttProvider, TtsProvider } from '../providers/types.js';
import { servedBy } from '../providers/wrap/fallback.js';
import type { ConversationResolution, MessageRole, QueuedRow } from '../store/rows.js';
import type { Channel } from './channel.js';
import { buildSystemPrompt, phrasesFor, type Phrases } from './prompts.js';
import { streamReply, type Reply } from './reply.js';
import type { PromptCache } from './speech.js';
import { actionFor, conversationTools } from './tools.js';
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
  channel: Channel;
  secretary: SecretaryProfile;
  providers: { stt: SttProvider; llm: LlmProvider; tts: TtsProvider };
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
}

type End = { resolution: Resolution; transferredTo?: string };

/**
 * Runs one turn-based conversation on a channel until it ends, writing every row through the sink.
 * Never throws: every ending (hangup, provider failure, limits) becomes a resolution.
 */
export async function runConversation(deps: ConversationDeps): Promise<ConversationOutcome> {
  const { channel, secretary: sec, providers, sink, clock, log } = deps;
  const phrases = phrasesFor(sec.language);
  const callCtl = new AbortController();
  const maxTimer = setTimeout(() => callCtl.abort(new Error('max call duration')), sec.maxCallSeconds * 1000);
  const signal = AbortSignal.any([
    channel.hangupSignal,
    callCtl.signal,
    ...(deps.stopSignal ? [deps.stopSignal] : []),
  ]);
  const transcript = new Transcript(sink, clock, {
    domainUuid: sec.domainUuid,
    secretaryUuid: sec.secretaryUuid,
    callUuid: channel.callUuid,
    caller: deps.caller,
    processingMode: sec.processingMode,
  });
  const conversationUuid = transcript.conversationUuid;
  const startedAt = transcript.startedAt;
  const history: ChatMessage[] = [];
  const canTransfer = sec.transferExtension !== undefined;
  const tools = conversationTools(canTransfer);
  const system = buildSystemPrompt({
    secretaryName: sec.name,
    systemPrompt: sec.systemPrompt,
    language: sec.language,
    canTransfer,
    now: startedAt,
    timezone: sec.timezone,
  });
  let turn = 0;

  const message = (role: MessageRole, content: string, extra: MessageLatency = {}): void =>
    transcript.message(turn, role, content, extra);

  const phraseOpts = {
    rateHz: channel.sampleRateHz,
    language: sec.language,
    ...(sec.voice ? { voice: sec.voice } : {}),
  };
  /** Says a fixed phrase (cached on disk); resolves with the terminator digit, if the caller pressed one. */
  const say = async (text: string, sig: AbortSignal): Promise<string | undefined> => {
    const file = await deps.prompts.get(providers.tts, text, { ...phraseOpts, signal: sig });
    const r = await channel.play(file, { signal: sig });
    return r.terminator;
  };

  /** Hands the caller to the operator, or says there is none and says goodbye. */
  const transferOrGoodbye = async (resolution: Resolution, sig: AbortSignal): Promise<End> => {
    if (sec.transferExtension !== undefined) {
      await say(phrases.transferring, sig).catch(swallowUnlessHangup);
      await channel.transfer(sec.transferExtension, sec.domainName, sig);
      return {
        resolution: resolution === 'error' || resolution === 'max_turns' ? resolution : 'transferred',
        transferredTo: sec.transferExtension,
      };
    }
    await say(phrases.noOperator, sig).catch(swallowUnlessHangup);
    await goodbye(sig);
    return { resolution };
  };
  const goodbye = async (sig: AbortSignal): Promise<void> => {
    // A farewell that never finishes (a stuck playback, a TTS that never answers) must not keep the call.
    const cap = AbortSignal.timeout(deps.farewellMaxMs ?? 15_000);
    await say(sec.farewell || phrases.farewell, AbortSignal.any([sig, cap])).catch((err: unknown) => {
      if (!cap.aborted || sig.aborted) return swallowUnlessHangup(err);
      callLog.warn({ farewellMaxMs: deps.farewellMaxMs ?? 15_000 }, 'farewell took too long: hanging up');
      return undefined;
    });
    await channel.hangup('NORMAL_CLEARING');
  };
  const onDigit = async (digit: string): Promise<End> => {
    if (digit === '0') return transferOrGoodbye('transferred', signal);
    await goodbye(signal);
    return { resolution: 'completed' };
  };

  const callLog = log.child({ conversation: conversationUuid });

  const converse = async (): Promise<End> => {
    await mkdir(deps.callDir, { recursive: true });
    await channel.answer(signal);
    const greeting = sec.greeting || phrases.greeting;
    message('assistant', greeting, { tts_provider: providers.tts.info.vendor });
    // Warm the filler phrase while the greeting plays, so a slow first turn can use it at once.
    const filler = deps.prompts.get(providers.tts, phrases.oneMoment, { ...phraseOpts, signal });
    filler.catch(() => undefined);
    const greetDigit = await say(greeting, signal);
    if (greetDigit !== undefined) return onDigit(greetDigit);

    let silentTurns = 0;
    let silentMs = 0;
    /**
     * One more silent turn (`recordMs` of silence): the farewell after max_silent_turns or idle_timeout_seconds
     * of silence, else "are you still there?".
     */
    const silence = async (recordMs: number): Promise<End | undefined> => {
      silentTurns++;
      silentMs += recordMs;
      if (silentTurns >= sec.maxSilentTurns || silentMs >= sec.idleTimeoutSeconds * 1000) {
        await goodbye(signal);
        return { resolution: 'silence' };
      }
      const d = await say(phrases.stillThere, signal);
      return d === undefined ? undefined : onDigit(d);
    };
    for (;;) {
      if (turn >= sec.maxTurns) {
        callLog.info({ turns: turn }, 'max turns reached');
        return transferOrGoodbye('max_turns', signal);
      }
      const file = path.join(deps.callDir, `caller-${turn + 1}-${silentTurns}.wav`);
      const rec = await channel.record(file, {
        signal,
        maxSeconds: sec.recordMaxSeconds,
        silenceThreshold: scaledSilenceThreshold(sec.silenceThreshold, channel.sampleRateHz),
        silenceSeconds: sec.silenceSeconds,
      });
      const recordEndedAt = clock.monotonicMs();
      if (rec.terminator !== undefined) return onDigit(rec.terminator);
      const audio = await readCallerAudio(file, callLog);
      if (!audio || !hasSpeech(audio.samples, audio.sampleRateHz, { threshold: sec.silenceThreshold })) {
        callLog.info({ silentTurns: silentTurns + 1, recordMs: rec.recordMs }, 'caller silent');
        const ended = await silence(rec.recordMs);
        if (ended) return ended;
        continue;
      }
      const sttStart = clock.monotonicMs();
      const heard = await providers.stt.transcribe(audio, { language: sec.language }, signal);
      const sttMs = Math.round(clock.monotonicMs() - sttStart);
      const text = heard.text.trim();
      if (text === '') {
        callLog.info({ silentTurns: silentTurns + 1, sttMs }, 'transcript empty');
        const ended = await silence(rec.recordMs);
        if (ended) return ended;
        continue;
      }
      silentTurns = 0;
      silentMs = 0;
      turn++;
      message('user', text, { stt_provider: servedBy(providers.stt).vendor, stt_ms: sttMs });
      history.push({ role: 'user', content: text });
      callLog.info({ turn, sttMs, pii: { text } }, 'caller said');

      const reply: Reply = await streamReply({
        llm: providers.llm,
        tts: providers.tts,
        channel,
        system,
        history,
        tools,
        language: sec.language,
        ...(sec.voice ? { voice: sec.voice } : {}),
        dir: deps.callDir,
        turn,
        recordEndedAt,
        fillerAfterMs: deps.fillerAfterMs ?? 2500,
        ...(deps.sentenceStreaming === undefined ? {} : { sentenceStreaming: deps.sentenceStreaming }),
        filler: () => filler,
        signal,
        clock,
        log: callLog,
      });
      const spoken = reply.spokenText || reply.fullText;
      if (spoken !== '') {
        history.push({ role: 'assistant', content: spoken });
        message('assistant', spoken, {
          llm_provider: servedBy(providers.llm).vendor,
          tts_provider: servedBy(providers.tts).vendor,
          llm_first_token_ms: reply.llmFirstTokenMs,
          tts_first_byte_ms: reply.ttsFirstByteMs,
          turn_ms: reply.turnMs,
        });
      }
      deps.onTurn?.({
        providers: {
          stt: servedBy(providers.stt).vendor,
          llm: servedBy(providers.llm).vendor,
          tts: servedBy(providers.tts).vendor,
        },
        sttMs,
        llmFirstTokenMs: reply.llmFirstTokenMs,
        ttsFirstByteMs: reply.ttsFirstByteMs,
        turnMs: reply.turnMs,
      });
      for (const call of reply.toolCalls)
        message('tool', JSON.stringify({ name: call.name, arguments: call.arguments }));
      callLog.info(
        {
          turn,
          llmFirstTokenMs: reply.llmFirstTokenMs,
          ttsFirstByteMs: reply.ttsFirstByteMs,
          turnMs: reply.turnMs,
          tools: reply.toolCalls.map((c) => c.name),
          pii: { text: spoken },
        },
        'secretary replied',
      );
      if (reply.terminator !== undefined) return onDigit(reply.terminator);
      const action = actionFor(
        reply.toolCalls.map((c) => c.name),
        canTransfer,
      );
      if (action.type === 'transfer') return transferOrGoodbye('transferred', signal);
      if (action.type === 'end_call') {
        await goodbye(signal);
        return { resolution: 'completed' };
      }
    }
  };

  let end: End;
  try {
    end = await converse();
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
      return channel.hangupSignal.aborted ? { resolution: 'timeout' } : farewellAfter('timeout');
    }
    if (channel.hangupSignal.aborted || err instanceof CallHangupError) {
      callLog.info({ turns: turn }, 'caller hung up');
      return { resolution: 'caller_hangup' };
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
      await say(phrases.apology, channel.hangupSignal).catch(swallowUnlessHangup);
      return await transferOrGoodbye('error', channel.hangupSignal);
    } catch (e) {
      if (channel.hangupSignal.aborted) return { resolution: 'caller_hangup' };
      callLog.error({ err: e }, 'apology failed');
      await channel.hangup('NORMAL_TEMPORARY_FAILURE').catch(() => undefined);
      return { resolution: 'error' };
    }
  }

  async function farewellAfter(resolution: Resolution): Promise<End> {
    try {
      await goodbye(channel.hangupSignal);
    } catch {
      if (channel.hangupSignal.aborted && resolution !== 'timeout') return { resolution: 'caller_hangup' };
    }
    return { resolution };
  }

  // The call's audio goes before its end row, so whoever sees the end sees no leftover files.
  await rm(deps.callDir, { recursive: true, force: true }).catch((err: unknown) =>
    callLog.warn({ err }, 'could not delete call audio'),
  );
  transcript.end(end.resolution, turn, end.transferredTo ?? null);
  callLog.info(
    { resolution: end.resolution, turns: turn, transferredTo: end.transferredTo },
    'conversation ended',
  );
  return {
    conversationUuid,
    resolution: end.resolution,
    transferredTo: end.transferredTo ?? null,
    turns: turn,
  };
}

/** Fixed phrases are best effort, but a hangup must still end the conversation. */
function swallowUnlessHangup(err: unknown): undefined {
  if (err instanceof CallHangupError) throw err;
  if (isAbort(err)) throw err;
  return undefined;
}

async function readCallerAudio(
  file: string,
  log: Logger,
): Promise<{ samples: Int16Array; sampleRateHz: number } | undefined> {
  try {
    const wav = parseWav(await readFile(file));
    return { samples: wav.samples, sampleRateHz: wav.sampleRateHz };
  } catch (err) {
    log.warn({ err, file }, 'caller recording unreadable');
    return undefined;
  }
}

export type { Phrases };
