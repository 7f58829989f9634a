import { describe, expect, it } from 'vitest';
import { ToolCallAssembler } from '../../src/providers/llm/tool-calls.js';

describe('ToolCallAssembler', () => {
  it('keys fragments by index, as OpenAI sends them, even interleaved', () => {
    const t = new ToolCallAssembler();
    t.add([{ index: 0, id: 'a', type: 'function', function: { name: 'f', arguments: '' } }]);
    t.add([{ index: 1, id: 'b', type: 'function', function: { name: 'g', arguments: '{"y"' } }]);
    t.add([
      { index: 0, function: { arguments: '{"x":' } },
      { index: 1, function: { arguments: ':2}' } },
    ]);
    t.add([{ index: 0, function: { arguments: '1}' } }]);
    expect(t.complete()).toEqual([
      { id: 'a', name: 'f', arguments: '{"x":1}' },
      { id: 'b', name: 'g', arguments: '{"y":2}' },
    ]);
    expect(t.complete()).toEqual([]);
  });

  it('starts a new call when a server reuses index 0 with a new id', () => {
    const t = new ToolCallAssembler();
    t.add([{ index: 0, id: 'a', function: { name: 'f', arguments: '{}' } }]);
    t.add([{ index: 0, id: 'b', function: { name: 'g', arguments: '{"k"' } }]);
    t.add([{ index: 0, function: { arguments: ':1}' } }]);
    expect(t.complete()).toEqual([
      { id: 'a', name: 'f', arguments: '{}' },
      { id: 'b', name: 'g', arguments: '{"k":1}' },
    ]);
  });

  it('without index: by id, else the last call opened; object arguments are serialised; ids are made up', () => {
    const t = new ToolCallAssembler();
    t.add([{ id: 'a', function: { name: 'f', arguments: '{"q":' } }]);
    t.add([{ function: { arguments: '"x"}' } }]);
    t.add([{ function: { name: 'g', arguments: { n: 1 } } }]);
    t.add([{ function: { arguments: '' } }, null, 'junk']);
    const calls = t.complete();
    expect(calls[0]).toEqual({ id: 'a', name: 'f', arguments: '{"q":"x"}' });
    expect(calls[1]).toMatchObject({ name: 'g', arguments: '{"n":1}' });
    expect(calls[1]?.id).toMatch(/^call_/);
  });
});
