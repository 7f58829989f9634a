import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createConversationsRepo } from '../../src/store/repos/conversations.js';
import { createMessagesRepo } from '../../src/store/repos/messages.js';
import { createDomain, testSql } from '../helpers/db.js';
import { runCliProcess } from './cli-process.js';

const sql = testSql();
afterAll(async () => {
  await sql.end();
});

// What a remote caller put in its caller-ID name (%1B%5B2J%1B%5D0%3Bpwned%07): clear the screen, retitle it.
const HOSTILE_NAME = '\x1b[2J\x1b]0;pwned\x07';
// Bytes a terminal acts on: C0 other than \n, DEL, C1 (as UTF-8), bidi overrides, line separators.
// eslint-disable-next-line no-control-regex
const RAW_CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e\u2028]/;

describe('terminal controls in what the CLI prints', () => {
  it('conversations show and list escape a hostile caller ID; accents print as is; --json stays exact', async () => {
    const d = await createDomain(sql);
    const id = randomUUID();
    await createConversationsRepo(sql).insert(d.domain_uuid, {
      conversation_uuid: id,
      call_uuid: `call-${id.slice(0, 8)}`,
      caller_id: '+5511\x9b2J',
      caller_id_name: `${HOSTILE_NAME} Conceição`,
      destination_number: '8000',
      started_at: new Date(),
    });
    await createMessagesRepo(sql).insertMany(d.domain_uuid, [
      {
        message_uuid: randomUUID(),
        conversation_uuid: id,
        turn: 1,
        seq: 0,
        role: 'user',
        content: 'oi \u202eabc\u2028fim\x7f',
      },
    ]);

    const show = await runCliProcess(['conversations', 'show', id, '--domain', d.domain_name]);
    expect(show.stderr).toBe('');
    expect(show.code).toBe(0);
    const text = show.stdout.toString('utf8');
    expect(text).not.toMatch(RAW_CONTROLS);
    expect(text).toContain('\\x1b[2J\\x1b]0;pwned\\x07 Conceição');
    expect(text).toContain('+5511\\u009b2J');
    expect(text).toContain('oi \\u202eabc\\u2028fim\\u007f');

    const list = await runCliProcess(['conversations', 'list', '--domain', d.domain_name]);
    expect(list.code).toBe(0);
    expect(list.stdout.toString('utf8')).not.toMatch(RAW_CONTROLS);
    expect(list.stdout.toString('utf8')).toContain('+5511\\u009b2J');

    // JSON escapes C0 itself; the rest is escaped as JSON escapes, so parsing gives back the stored values.
    const json = await runCliProcess(['conversations', 'show', id, '--domain', d.domain_name, '--json']);
    expect(json.code).toBe(0);
    expect(json.stdout.toString('utf8')).not.toMatch(RAW_CONTROLS);
    const parsed = JSON.parse(json.stdout.toString('utf8')) as {
      conversation: { caller_id: string; caller_id_name: string };
      messages: { text: string }[];
    };
    expect(parsed.conversation.caller_id_name).toBe(`${HOSTILE_NAME} Conceição`);
    expect(parsed.conversation.caller_id).toBe('+5511\x9b2J');
    expect(parsed.messages[0]?.text).toBe('oi \u202eabc\u2028fim\x7f');
  });

  it('errors on stderr are escaped too', async () => {
    const r = await runCliProcess(['conversations', 'list', '--domain', 'evil\x1b]0;x\x07.example.com']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(RAW_CONTROLS);
    expect(r.stderr).toContain('unknown domain "evil\\x1b]0;x\\x07.example.com"');
  });
});
