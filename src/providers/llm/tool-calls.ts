import type { ToolCall } from '../types.js';

interface Slot {
  index: number | undefined;
  id: string | undefined;
  name: string;
  args: string;
  emitted: boolean;
}

/**
 * Assembles streamed tool-call fragments into whole calls. OpenAI keys fragments by `index`; Ollama and
 * others omit it, so a fragment falls back to its `id`, then to the last call opened.
 */
export class ToolCallAssembler {
  private readonly slots: Slot[] = [];
  private generated = 0;

  add(deltas: readonly unknown[]): void {
    for (const raw of deltas) {
      if (raw === null || typeof raw !== 'object') continue;
      const d = raw as { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } };
      const index = typeof d.index === 'number' ? d.index : undefined;
      const id = typeof d.id === 'string' && d.id !== '' ? d.id : undefined;
      let slot =
        index !== undefined
          ? this.slots.findLast((s) => s.index === index && !s.emitted)
          : id !== undefined
            ? this.slots.find((s) => s.id === id && !s.emitted)
            : this.slots.findLast((s) => !s.emitted);
      const name = d.function?.name;
      const named = typeof name === 'string' && name !== '' ? name : undefined;
      // Some servers reuse index 0 for every call; a new id then means a new call.
      if (slot && id !== undefined && slot.id !== undefined && slot.id !== id) slot = undefined;
      // Without index or id, a name after a finished call starts the next one.
      if (slot && index === undefined && id === undefined && named !== undefined && slot.name !== '') {
        if (named !== slot.name || isJson(slot.args)) slot = undefined;
      }
      if (!slot) {
        slot = { index, id, name: '', args: '', emitted: false };
        this.slots.push(slot);
      }
      if (slot.id === undefined && id !== undefined) slot.id = id;
      if (named !== undefined && slot.name === '') slot.name = named;
      const args = d.function?.arguments;
      if (typeof args === 'string') slot.args += args;
      else if (args !== null && typeof args === 'object') slot.args += JSON.stringify(args);
    }
  }

  /** The calls not yet returned, in the order they were opened; unnamed fragments are dropped. */
  complete(): ToolCall[] {
    const out: ToolCall[] = [];
    for (const s of this.slots) {
      if (s.emitted) continue;
      s.emitted = true;
      if (s.name === '') continue;
      out.push({
        id: s.id ?? `call_${s.index ?? 'x'}_${++this.generated}`,
        name: s.name,
        arguments: s.args.trim() === '' ? '{}' : s.args,
      });
    }
    return out;
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
