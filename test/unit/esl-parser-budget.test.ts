/* Parsers that share a ByteBudget charge what they hold for incomplete frames and give it back (issue 9 item 3). */
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/esl/budget.js';
import { EslParser, type EslFrame } from '../../src/esl/parser.js';

const head = (len: number): Buffer => Buffer.from(`Content-Type: api/response\nContent-Length: ${len}\n\n`);
const body = (n: number): Buffer => Buffer.alloc(n, 0x61);

describe('EslParser with a shared byte budget', () => {
  it('charges the held buffer, and returns it when the frame completes or the parser is disposed', () => {
    const budget = new ByteBudget(1024 * 1024);
    const a = new EslParser({ budget });
    const b = new EslParser({ budget });
    const frames: EslFrame[] = [];
    a.push(Buffer.concat([head(100_000), body(50_000)]), (f) => frames.push(f));
    b.push(Buffer.concat([head(100_000), body(30_000)]), (f) => frames.push(f));
    expect(budget.usedBytes).toBe(a.retainedBytes + b.retainedBytes);
    expect(a.retainedBytes).toBeGreaterThanOrEqual(50_000);

    a.push(body(50_000), (f) => frames.push(f));
    expect(frames.map((f) => f.body?.length)).toEqual([100_000]);
    expect(a.retainedBytes).toBe(0);
    expect(budget.usedBytes).toBe(b.retainedBytes);

    b.dispose();
    expect(budget.usedBytes).toBe(0);
  });

  it('fails with E_ESL_BUFFER_BUDGET, after the frames before, when the budget cannot hold what arrived', () => {
    const budget = new ByteBudget(200_000);
    const hog = new EslParser({ budget });
    hog.push(Buffer.concat([head(300_000), body(150_000)]), () => undefined);
    const victim = new EslParser({ budget });
    const frames: EslFrame[] = [];
    const chunk = Buffer.concat([
      Buffer.from('Content-Type: command/reply\nReply-Text: +OK\n\n'),
      head(80_000),
      body(60_000),
    ]);
    expect(() => victim.push(chunk, (f) => frames.push(f))).toThrow(
      expect.objectContaining({ code: 'E_ESL_BUFFER_BUDGET' }),
    );
    expect(frames.map((f) => f.contentType)).toEqual(['command/reply']);
    // The failed parser holds nothing; the other one keeps its charge and can still finish its frame.
    expect(victim.retainedBytes).toBe(0);
    expect(budget.usedBytes).toBe(hog.retainedBytes);
    expect(budget.usedBytes).toBeLessThanOrEqual(budget.limitBytes);
  });

  it('takes only what it needs when doubling the buffer would not fit', () => {
    const budget = new ByteBudget(100_000);
    const p = new EslParser({ budget });
    const first = Buffer.concat([head(200_000), body(70_000)]);
    p.push(first, () => undefined);
    // Doubling would ask for ~140 KB; the 80 KB that are really there fit.
    p.push(body(10_000), () => undefined);
    expect(p.retainedBytes).toBe(first.length + 10_000);
  });
});
