import path from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { isAbort } from '../core/errors.js';
import { secretaryProfile } from '../conversation/profile.js';
import { runConversation, type ConversationOutcome, type TurnLatency } from '../conversation/session.js';
import type { PromptCache } from '../conversation/speech.js';
import type { FrameClassifier } from '../media/endpointer.js';
import type { ChannelData, OutboundSession } from '../esl/index.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { ProviderByKind, ProviderRow as AdapterRow } from '../providers/types.js';
import type { Directory } from '../store/directory.js';
import type { DomainRow, SecretaryMedia, SecretaryWithProviders } from '../store/repos/types.js';
import type { QueuedRow } from '../store/rows.js';
import { armCallDeadline, ensureChannelDown, type CallDeadline, type KillChannel } from './call-deadline.js';
import { FilesMedia } from './files-media.js';
import { startUnicastMedia, type UnicastMedia, type UnicastSettings } from './unicast-media.js';

/** How long a session has to report our hangup before uuid_kill (at most; a shorter execute margin wins). */
const KILL_AFTER_MS = 5000;

export interface CallHandlerDeps {
  /** Every lookup of the call path: cached, and served stale while the database is away. */
  directory: Directory;
  registry: ProviderRegistry;
  sink: { enqueue(item: QueuedRow): unknown };
  audioDir: string;
  prompts: PromptCache;
  log: Logger;
  clock: Clock;
  fillerAfterMs?: number;
  /** Told when a call starts and ends (metrics, drain). */
  onCallStart?: (info: { callUuid: string; domainName: string }) => void;
  onCallEnd?: (info: {
    callUuid: string;
    domainName: string;
    outcome: ConversationOutcome | undefined;
  }) => void;
  onTurn?: (t: TurnLatency) => void;
  /** Aborted when the drain grace runs out: calls say goodbye and hang up. */
  stopSignal?: AbortSignal;
  /** See ReplyRequest.sentenceStreaming (benchmarks only). */
  sentenceStreaming?: boolean;
  /** Bounds every execute (expected duration + this) and the wait for a hangup to be reported; 5000 ms. */
  executeMarginMs?: number;
  /** A call still up max_call_seconds + this after it started is hung up from outside; 20 s. */
  callGraceSeconds?: number;
  /** uuid_kill over the inbound connection, for a session that does not answer our hangup. */
  killChannel?: KillChannel;
  /** Full-duplex media; without it every call runs on `files`. */
  media?: MediaDeps;
}

export interface MediaDeps {
  /** For a secretary whose own `media` is unset. */
  default: SecretaryMedia;
  unicast: UnicastSettings;
  /** A fresh frame classifier for one call at this rate (Silero); energy when absent or undefined. */
  classifier?: (rateHz: 8000 | 16000) => Promise<FrameClassifier | undefined>;
}

/**
 * What the outbound server runs for every call: resolve the tenant and secretary, build its providers, run
 * the conversation, release the socket. Anything unresolvable ends the socket session at once, so the
 * dialplan's fail-open action after `socket` runs: the caller is never left in silence.
 */
export function createCallHandler(deps: CallHandlerDeps): (session: OutboundSession) => Promise<void> {
  return async (session) => {
    const cd = session.channel;
    let log = deps.log.child({ call: cd.uniqueId });
    let media: FilesMedia | UnicastMedia | undefined;
    let domainName = cd.domainName ?? cd.context;
    let outcome: ConversationOutcome | undefined;
    let started = false;
    let deadline: CallDeadline | undefined;
    const marginMs = deps.executeMarginMs ?? 5000;
    try {
      const domain = await resolveDomain(deps.directory, cd, log);
      if (!domain) {
        log.warn(
          { domainUuid: cd.domainUuid, domainName: cd.domainName, context: cd.context },
          'unknown domain: failing open',
        );
        return;
      }
      domainName = domain.domain_name ?? domainName;
      const secretary = await resolveSecretary(deps.directory, domain.domain_uuid, cd);
      if (!secretary) {
        log.warn(
          {
            domain: domainName,
            destination: cd.destinationNumber,
            secretaryUuid: cd.variables['voice_ai_secretary_uuid'],
          },
          'no enabled secretary for this call: failing open',
        );
        return;
      }
      log = log.child({ domain: domainName, secretary: secretary.secretary_uuid });
      const providers = await buildProviders(deps, secretary, log);
      if (!providers) return;
      media =
        (await fullDuplexMedia(session, secretary, deps, log, marginMs)) ??
        new FilesMedia(session, log, deps.clock, { executeMarginMs: marginMs });
      deps.onCallStart?.({ callUuid: cd.uniqueId, domainName });
      started = true;
      deadline = armCallDeadline({
        session,
        log,
        kill: deps.killChannel,
        cause: 'ALLOTTED_TIMEOUT',
        answerMs: Math.min(marginMs, KILL_AFTER_MS),
        ms: (secretary.max_call_seconds + (deps.callGraceSeconds ?? 20)) * 1000,
      });
      outcome = await runConversation({
        media,
        secretary: secretaryProfile(secretary, domainName),
        providers,
        sink: deps.sink,
        callDir: path.join(deps.audioDir, 'calls', safeName(cd.uniqueId)),
        prompts: deps.prompts,
        caller: {
          number: cd.callerIdNumber || null,
          name: cd.callerIdName || null,
          destination: cd.destinationNumber || null,
        },
        log,
        clock: deps.clock,
        ...(deps.fillerAfterMs === undefined ? {} : { fillerAfterMs: deps.fillerAfterMs }),
        ...(deps.onTurn === undefined ? {} : { onTurn: deps.onTurn }),
        ...(deps.stopSignal === undefined ? {} : { stopSignal: deps.stopSignal }),
        ...(deps.sentenceStreaming === undefined ? {} : { sentenceStreaming: deps.sentenceStreaming }),
      });
    } catch (err) {
      if (isAbort(err)) log.info('call ended during setup');
      else log.error({ err }, 'call setup failed: failing open');
    } finally {
      deadline?.disarm();
      await media?.dispose();
      // The conversation hung up (unless it transferred): a session that never reports it is wedged.
      if (outcome !== undefined && outcome.transferredTo === null) {
        await ensureChannelDown({
          session,
          log,
          kill: deps.killChannel,
          cause: outcome.resolution === 'timeout' ? 'ALLOTTED_TIMEOUT' : 'NORMAL_CLEARING',
          answerMs: Math.min(marginMs, KILL_AFTER_MS),
          sendHangup: false,
        });
      }
      if (started) deps.onCallEnd?.({ callUuid: cd.uniqueId, domainName, outcome });
      await session.close();
    }
  };
}

async function resolveDomain(
  directory: Directory,
  cd: ChannelData,
  log: Logger,
): Promise<DomainRow | undefined> {
  let domain = cd.domainUuid ? await directory.domainByUuid(cd.domainUuid) : undefined;
  if (!domain) {
    const name = cd.domainName ?? cd.context;
    // FusionPBX always sets domain_uuid; one that names no domain usually is a dialplan copied from another
    // tenant or system, and the name match may then pick a tenant the operator did not mean.
    if (cd.domainUuid) {
      log.warn(
        { domainUuid: cd.domainUuid.slice(0, 64), domainName: name },
        'variable_domain_uuid is not a known domain: matching the domain name instead',
      );
    }
    if (name) domain = await directory.domainByName(name);
  }
  return domain && domain.domain_enabled !== false ? domain : undefined;
}

async function resolveSecretary(
  directory: Directory,
  domainUuid: string,
  cd: ChannelData,
): Promise<SecretaryWithProviders | undefined> {
  const pinned = cd.variables['voice_ai_secretary_uuid'];
  if (pinned) return directory.secretaryByUuid(domainUuid, pinned);
  return directory.secretaryByExtension(domainUuid, cd.destinationNumber);
}

type TurnProviders = { stt: ProviderByKind['stt']; llm: ProviderByKind['llm']; tts: ProviderByKind['tts'] };

/**
 * The secretary's own provider of each kind first, then the domain's other enabled ones (default, priority) as
 * fallbacks. Undefined (logged) when a kind has no usable provider: the call fails open.
 */
async function buildProviders(
  deps: CallHandlerDeps,
  sec: SecretaryWithProviders,
  log: Logger,
): Promise<TurnProviders | undefined> {
  const build = async <K extends 'stt' | 'llm' | 'tts'>(
    kind: K,
    preferred: string | null,
  ): Promise<ProviderByKind[K]> => {
    const listed = await deps.directory.providersFor(sec.domain_uuid, kind);
    if (preferred && !listed.some((p) => p.provider_uuid === preferred)) {
      log.warn(
        { kind, provider: preferred },
        'secretary provider missing or disabled: using the domain defaults',
      );
    }
    const rows: AdapterRow[] = [];
    for (const p of listed) {
      const full = await deps.directory.providerByUuid(sec.domain_uuid, p.provider_uuid);
      if (full && full.is_enabled) rows.push(full);
    }
    return deps.registry.build(rows, kind, { preferredUuid: preferred });
  };
  try {
    return {
      stt: await build('stt', sec.stt_provider_uuid),
      llm: await build('llm', sec.llm_provider_uuid),
      tts: await build('tts', sec.tts_provider_uuid),
    };
  } catch (err) {
    log.error({ err }, 'no usable providers for secretary: failing open');
    return undefined;
  }
}

/** Call uuids come from FreeSWITCH; never let one escape the audio directory. */
function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || 'call';
}

/**
 * The streaming media a `realtime` or `auto` secretary asks for, started; undefined means `files` (a
 * `turn_based` secretary, `media = files`, or a backend that could not start within its first-frame timeout:
 * nothing has been played yet, so the caller hears no gap beyond that timeout).
 */
async function fullDuplexMedia(
  session: OutboundSession,
  secretary: SecretaryWithProviders,
  deps: CallHandlerDeps,
  log: Logger,
  marginMs: number,
): Promise<UnicastMedia | undefined> {
  if (secretary.processing_mode === 'turn_based' || deps.media === undefined) return undefined;
  const wanted = secretary.media ?? deps.media.default;
  if (wanted === 'files') return undefined;
  if (wanted === 'audio_stream') {
    log.warn('media audio_stream is not built yet: trying unicast');
  }
  // Unicast needs media on the channel: answer first (FilesMedia.answer skips an answered channel).
  if (session.channel.answerState !== 'answered') {
    await session.execute('answer', '', { signal: session.hangupSignal, timeoutMs: marginMs });
  }
  try {
    return await startUnicastMedia(
      session,
      deps.media.unicast,
      {
        silenceThreshold: secretary.silence_threshold,
        executeMarginMs: marginMs,
        ...(deps.media.classifier ? { classifier: deps.media.classifier } : {}),
      },
      log,
      deps.clock,
      session.hangupSignal,
    );
  } catch (err) {
    if (session.hangupSignal.aborted) throw err;
    log.warn({ err }, 'unicast could not start: this call uses files');
    return undefined;
  }
}
