import type { ToolSpec } from '../providers/types.js';

/** The functions the LLM may call. transfer_to_operator exists only when the secretary has an operator. */
export function conversationTools(canTransfer: boolean): ToolSpec[] {
  const tools: ToolSpec[] = [
    {
      name: 'end_call',
      description: 'End the call politely once the caller has what they need or says goodbye.',
      parameters: {
        type: 'object',
        properties: { reason: { type: 'string', description: 'Why the call ends, in a few words.' } },
        required: [],
      },
    },
  ];
  if (canTransfer) {
    tools.push({
      name: 'transfer_to_operator',
      description: 'Transfer the caller to a human operator, when they ask for a person or you cannot help.',
      parameters: {
        type: 'object',
        properties: {
          reason: { type: 'string', description: 'Why the caller is transferred, in a few words.' },
        },
        required: [],
      },
    });
  }
  return tools;
}

export type ToolAction = { type: 'end_call' } | { type: 'transfer' } | { type: 'none' };

/** Maps the LLM's tool calls to what the call does next; unknown tools are ignored (and logged by the caller). */
export function actionFor(names: readonly string[], canTransfer: boolean): ToolAction {
  if (canTransfer && names.includes('transfer_to_operator')) return { type: 'transfer' };
  if (names.includes('end_call')) return { type: 'end_call' };
  return { type: 'none' };
}
