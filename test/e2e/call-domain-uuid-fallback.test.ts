import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, utterance, type Harness } from './call-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const FALLBACK = 'variable_domain_uuid is not a known domain: matching the domain name instead';

function endCallScript(): void {
  h.ai.script('transcriptions', { type: 'transcription', text: 'Tchau.' });
  h.ai.script('chat', { type: 'chat', text: 'Até mais.', toolCalls: [{ name: 'end_call', arguments: {} }] });
}

describe('a domain_uuid that names no domain', () => {
  it('is logged (value and name) when the call falls back to the domain name, which still answers', async () => {
    const t = await h.tenant();
    endCallScript();
    const stranger = '00000000-0000-4000-8000-00000000beef';
    const call = h.call({ ...t, domain_uuid: stranger }, { script: utterance() });
    await call.ended;
    const conv = await h.conversation(call.uuid);
    expect(conv.domain_uuid).toBe(t.domain_uuid);
    const warned = h.logs.filter((l) => l.call === call.uuid && l.msg === FALLBACK);
    expect(warned).toEqual([
      expect.objectContaining({ level: 40, domainUuid: stranger, domainName: t.domain_name }),
    ]);
  });

  it('a value that is not a uuid at all is logged truncated', async () => {
    const t = await h.tenant();
    endCallScript();
    const junk = `x${'y'.repeat(200)}`;
    const call = h.call({ ...t, domain_uuid: junk }, { script: utterance() });
    await call.ended;
    await h.conversation(call.uuid);
    const warned = h.logs.filter((l) => l.call === call.uuid && l.msg === FALLBACK);
    expect(warned).toHaveLength(1);
    expect(warned[0]?.domainUuid).toBe(junk.slice(0, 64));
  });

  it('a known domain_uuid logs nothing of the kind', async () => {
    const t = await h.tenant();
    endCallScript();
    const call = h.call(t, { script: utterance() });
    await call.ended;
    await h.conversation(call.uuid);
    expect(h.logs.filter((l) => l.call === call.uuid && l.msg === FALLBACK)).toEqual([]);
  });
});
