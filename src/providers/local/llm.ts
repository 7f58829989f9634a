/**
 * The `local` LLM: not a language model but an honest retrieval responder that needs no network and no key.
 * It answers the caller's last message with the best-matching passage of the tenant's knowledge text (BM25
 * over accent-folded, stopword-free, stemmed words), handles greetings, thanks and goodbyes (closing with
 * `end_call`) and requests for a person (`transfer_to_operator`, only when the request offers that tool),
 * and otherwise says it does not know. The same request always gets the same reply, streamed word by word.
 */
import { throwIfAborted } from '../../core/abort.js';
import type { ChatMessage, LlmEvent, LlmProvider, LlmRequest, ProviderInfo } from '../types.js';
import { analyze, localPhrases, type LocalPhrases } from './intents.js';
import { createKnowledgeIndex, parseKnowledge, type KnowledgeIndex, type Passage } from './knowledge.js';
import { contentTokens, phraseText } from './text.js';

export interface LocalLlmConfig {
  info: ProviderInfo;
  /** Paragraphs, bullet lines or `Q:`/`A:` pairs; may be empty (then only the intents are handled). */
  knowledge: string;
  /** Language of the fixed sentences: pt-BR for any 'pt…' tag, English otherwise. */
  language: string;
  /** Least share (0..1) of the question's weight a passage must cover to be given as the answer. */
  minCoverage: number;
  /** Ask "anything else?" after an answer, so the caller knows it is their turn. */
  followUp: boolean;
}

/** Default share of a question a passage must cover: one of two content words, or a rare one of three. */
export const DEFAULT_MIN_COVERAGE = 0.3;

/**
 * The knowledge-base pipeline puts retrieved snippets into the system prompt under this heading
 * (conversation/prompts.ts); they are searched along with the configured knowledge.
 */
const FACTS_HEADING = 'Facts you may use to answer:';

interface Plan {
  text: string;
  tool?: { name: 'end_call' | 'transfer_to_operator'; reason: string };
}

export function createLocalLlm(config: LocalLlmConfig): LlmProvider {
  const passages = parseKnowledge(config.knowledge);
  const index = createKnowledgeIndex(passages);
  const phrases = localPhrases(config.language);
  return {
    info: config.info,
    stream: (req, signal) =>
      streamPlan(req, decide(req, indexFor(req, passages, index), phrases, config), signal),
  };
}

function indexFor(req: LlmRequest, passages: readonly Passage[], index: KnowledgeIndex): KnowledgeIndex {
  const at = req.system.indexOf(FACTS_HEADING);
  if (at < 0) return index;
  const facts = parseKnowledge(req.system.slice(at + FACTS_HEADING.length));
  return facts.length === 0 ? index : createKnowledgeIndex([...passages, ...facts]);
}

function decide(req: LlmRequest, index: KnowledgeIndex, phrases: LocalPhrases, config: LocalLlmConfig): Plan {
  const offered = new Set((req.tools ?? []).map((t) => t.name));
  const canTransfer = offered.has('transfer_to_operator');
  const user = lastContent(req.messages, 'user');
  if (user === undefined || user.trim() === '') return { text: phrases.greeting };

  const { intents, residual } = analyze(user);
  const tokens = contentTokens(residual);
  const bare = tokens.length === 0;
  const hit = bare ? undefined : index.search(tokens);
  const known = hit !== undefined && hit.coverage >= config.minCoverage ? hit : undefined;
  const previous = lastContent(req.messages, 'assistant');
  const weOfferedTransfer =
    previous !== undefined && phraseText(previous).includes(phraseText(phrases.offerTransfer));

  const transfer: Plan = {
    text: phrases.transferring,
    tool: { name: 'transfer_to_operator', reason: 'caller asked for a person' },
  };
  if (intents.has('person') && canTransfer) return transfer;
  if (weOfferedTransfer && canTransfer && bare && intents.has('yes') && !intents.has('no')) return transfer;
  if (known !== undefined && !intents.has('goodbye')) {
    return { text: config.followUp ? `${known.passage.answer} ${phrases.followUp}` : known.passage.answer };
  }
  if (intents.has('goodbye') || intents.has('thanks')) {
    const text = intents.has('goodbye') ? phrases.closingGoodbye : phrases.closingThanks;
    if (!offered.has('end_call')) return { text };
    return { text, tool: { name: 'end_call', reason: 'caller said goodbye' } };
  }
  if (intents.has('person')) return { text: phrases.cannotTransfer };
  if (bare && intents.has('no')) return { text: phrases.declined };
  if (bare && intents.has('greeting')) return { text: phrases.greeting };
  if (bare) return { text: phrases.howCanIHelp };
  return { text: canTransfer ? `${phrases.unknown} ${phrases.offerTransfer}` : phrases.unknownAskAgain };
}

function lastContent(messages: readonly ChatMessage[], role: 'user' | 'assistant'): string | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role === role) return m.content;
  }
  return undefined;
}

async function* streamPlan(req: LlmRequest, plan: Plan, signal: AbortSignal): AsyncGenerator<LlmEvent> {
  throwIfAborted(signal);
  const words = plan.text.split(/\s+/).filter((w) => w !== '');
  for (let i = 0; i < words.length; i++) {
    // A turn of the event loop per word: an abort (barge-in, hangup) lands between two deltas.
    await new Promise<void>((resolve) => setImmediate(resolve));
    throwIfAborted(signal);
    yield { type: 'text', delta: i === 0 ? (words[i] ?? '') : ` ${words[i] ?? ''}` };
  }
  if (plan.tool !== undefined) {
    const turn = req.messages.filter((m) => m.role === 'user').length;
    yield {
      type: 'tool_call',
      id: `call_local_${turn}_${plan.tool.name}`,
      name: plan.tool.name,
      arguments: JSON.stringify({ reason: plan.tool.reason }),
    };
  }
  yield { type: 'done', finishReason: plan.tool === undefined ? 'stop' : 'tool_calls' };
}
