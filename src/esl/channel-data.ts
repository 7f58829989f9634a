import { EslError } from '../core/errors.js';
import { createHeaders, type EslHeaders } from './event.js';

/** What the outbound `connect` reply tells about the call, typed. */
export interface ChannelData {
  readonly uniqueId: string;
  readonly channelName: string;
  readonly callerIdNumber: string;
  readonly callerIdName: string;
  readonly destinationNumber: string;
  /** Caller-Context: on FusionPBX, the domain name. */
  readonly context: string;
  readonly domainUuid?: string;
  readonly domainName?: string;
  readonly readCodecName: string;
  /** Channel-Read-Codec-Rate; 0 when FreeSWITCH did not say. */
  readonly readRateHz: number;
  /** `answered`, `early`, `ringing`, `hangup`. */
  readonly answerState: string;
  /** Every `variable_*` header, without the prefix. */
  readonly variables: Record<string, string>;
  /** All headers of the reply, decoded. */
  readonly headers: EslHeaders;
}

const VARIABLE_PREFIX = 'variable_';

/** The `variable_*` headers of an event or reply, keyed without the prefix. */
export function variablesOf(headers: EslHeaders): Record<string, string> {
  const vars = createHeaders();
  for (const key in headers) {
    if (key.startsWith(VARIABLE_PREFIX)) vars[key.slice(VARIABLE_PREFIX.length)] = headers[key] ?? '';
  }
  return vars;
}

/** Types the CHANNEL_DATA headers of a `connect` reply; throws EslError E_ESL_PROTOCOL without a Unique-ID. */
export function parseChannelData(headers: EslHeaders): ChannelData {
  const uniqueId = headers['Unique-ID'] ?? headers['Channel-Unique-ID'] ?? headers['Caller-Unique-ID'];
  if (uniqueId === undefined || uniqueId === '') {
    throw new EslError('E_ESL_PROTOCOL', 'outbound connect reply without Unique-ID');
  }
  const variables = variablesOf(headers);
  const rate = Number.parseInt(headers['Channel-Read-Codec-Rate'] ?? '', 10);
  const domainUuid = variables['domain_uuid'];
  const domainName = variables['domain_name'];
  return {
    uniqueId,
    channelName: headers['Channel-Name'] ?? '',
    callerIdNumber: headers['Caller-Caller-ID-Number'] ?? '',
    callerIdName: headers['Caller-Caller-ID-Name'] ?? '',
    destinationNumber: headers['Caller-Destination-Number'] ?? '',
    context: headers['Caller-Context'] ?? '',
    ...(domainUuid === undefined || domainUuid === '' ? {} : { domainUuid }),
    ...(domainName === undefined || domainName === '' ? {} : { domainName }),
    readCodecName: headers['Channel-Read-Codec-Name'] ?? '',
    readRateHz: Number.isFinite(rate) && rate > 0 ? rate : 0,
    answerState: headers['Answer-State'] ?? '',
    variables,
    headers,
  };
}
