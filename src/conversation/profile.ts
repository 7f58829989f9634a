import type { SecretaryWithProviders } from '../store/repos/types.js';
import type { SecretaryProfile } from './session.js';

/** The secretary as a conversation needs it, from its v_voice_secretaries row and its domain's name. */
export function secretaryProfile(s: SecretaryWithProviders, domainName: string): SecretaryProfile {
  return {
    secretaryUuid: s.secretary_uuid,
    domainUuid: s.domain_uuid,
    domainName,
    name: s.name,
    language: s.language,
    ...(s.voice ? { voice: s.voice } : {}),
    systemPrompt: s.system_prompt,
    greeting: s.greeting,
    farewell: s.farewell,
    maxTurns: s.max_turns,
    maxSilentTurns: s.max_silent_turns,
    idleTimeoutSeconds: s.idle_timeout_seconds,
    recordMaxSeconds: s.record_max_seconds,
    silenceThreshold: s.silence_threshold,
    silenceSeconds: s.silence_seconds,
    maxCallSeconds: s.max_call_seconds,
    ...(s.transfer_extension ? { transferExtension: s.transfer_extension } : {}),
    timezone: s.timezone,
    processingMode: s.processing_mode,
  };
}
