import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderRegistry } from '../../src/providers/registry.js';
import { captureLog, fakeRow } from '../fakes/openai-rows.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';

let ai: FakeOpenAi;
beforeAll(async () => {
  ai = await startFakeOpenAi();
});
afterAll(async () => {
  await ai.close();
});

async function firstModelUsed(
  preferredUuid: string | null,
  rows: ReturnType<typeof fakeRow>[],
): Promise<string> {
  const before = ai.requests.length;
  const llm = createProviderRegistry({ log: captureLog().log }).build(rows, 'llm', { preferredUuid });
  for await (const ev of llm.stream(
    { system: 's', messages: [{ role: 'user', content: 'oi' }] },
    AbortSignal.timeout(5000),
  )) {
    if (ev.type === 'done') break;
  }
  return (ai.requests[before]?.body as { model: string }).model;
}

describe('provider order', () => {
  const rowsFor = (): ReturnType<typeof fakeRow>[] =>
    [
      fakeRow('', 'llm', { config: { model: 'by-priority' }, priority: 10 }),
      fakeRow('', 'llm', { config: { model: 'the-default' }, is_default: true, priority: 500 }),
      fakeRow('', 'llm', { config: { model: 'the-secretarys' }, priority: 900 }),
    ].map((r) => ({ ...r, config: { ...r.config, base_url: ai.baseUrl } }));
  let rows: ReturnType<typeof fakeRow>[] = [];
  beforeAll(() => {
    rows = rowsFor();
  });

  it('the default comes first, then priority', async () => {
    expect(await firstModelUsed(null, rows)).toBe('the-default');
  });

  it("the secretary's own provider comes before the domain default", async () => {
    expect(await firstModelUsed(rows[2]?.provider_uuid ?? '', rows)).toBe('the-secretarys');
  });
});
