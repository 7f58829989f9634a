/*
 * Why our own ESL client instead of modesl:
 * - modesl 1.2.1 (and drachtio-modesl 1.3.1) call decodeURIComponent unguarded in the socket data handler. A
 *   Latin-1 SIP trunk (common in Brazil) sends `Caller-Caller-ID-Name: Jo%E3o`, which is not UTF-8: the
 *   URIError is uncaught and kills the whole daemon, every call with it. Our decoder never throws and reads
 *   such values as Latin-1 ("João"); test/unit/esl-decode.test.ts keeps that regression.
 * - It matches execute replies to the wrong command, leaks listeners after hangups, never reconnects the
 *   inbound connection and has no types.
 * Layers: parser (bytes -> frames) -> connection (command FIFO over one socket) -> outbound server/session
 * (one call) and inbound connection (control, 8021).
 */
export { urlDecode, urlEncode, decodeBytes } from './decode.js';
export {
  EslParser,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_HEADER_BYTES,
  type EslFrame,
  type EslParserOptions,
} from './parser.js';
export {
  toEvent,
  headerValues,
  type EslEvent,
  type EslEventName,
  type EslHeaders,
  type ExecuteEvent,
  type HangupEvent,
  type AnswerEvent,
  type DtmfEvent,
  type PlaybackEvent,
  type RecordEvent,
  type BackgroundJobEvent,
  type CustomEvent,
  type OtherEvent,
} from './event.js';
export { parseChannelData, variablesOf, type ChannelData } from './channel-data.js';
export {
  EslConnection,
  subscribeCommand,
  isErrorText,
  type EslReply,
  type CommandOptions,
  type EslConnectionHandlers,
  type EslConnectionOptions,
} from './connection.js';
export {
  OutboundSession,
  type EventFormat,
  type ExecuteOptions,
  type ExecuteResult,
  type OutboundSessionEvents,
} from './outbound-session.js';
export { createOutboundServer, type OutboundServer, type OutboundServerOptions } from './outbound.js';
export {
  InboundConnection,
  createInboundConnection,
  type InboundOptions,
  type InboundEvents,
  type InboundState,
} from './inbound.js';
