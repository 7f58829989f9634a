/** The CDR variables a channel gets in CS_REPORTING (before CHANNEL_HANGUP_COMPLETE), in FreeSWITCH's order. */
import type { Channel } from './channel.js';
import type { HeaderValue } from './wire.js';

export function setCdrVariables(
  ch: Channel,
  profileCreatedUs: number,
  callerIdName: HeaderValue,
  callerIdNumber: string,
): void {
  const v = ch.vars;
  const start = ch.createdUs;
  const end = ch.hangupUs;
  const answer = ch.answeredUs;
  const stamp = (us: number): string => {
    const d = new Date(Math.floor(us / 1000));
    const p = (n: number): string => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  };
  const sec = (us: number): string => String(Math.floor(us / 1_000_000));
  const bill = answer > 0 ? end - answer : 0;
  const wait = answer > 0 ? answer - start : 0;
  v.set('hangup_cause', ch.hangupCause ?? 'NORMAL_CLEARING');
  v.set('hangup_cause_q850', String(ch.q850()));
  v.set('digits_dialed', ch.digitsDialed.length > 0 ? ch.digitsDialed : 'none');
  v.set('start_stamp', stamp(start));
  v.set('profile_start_stamp', stamp(profileCreatedUs));
  if (answer > 0) v.set('answer_stamp', stamp(answer));
  v.set('end_stamp', stamp(end));
  v.set('start_epoch', sec(start));
  v.set('start_uepoch', String(start));
  v.set('profile_start_epoch', sec(profileCreatedUs));
  v.set('profile_start_uepoch', String(profileCreatedUs));
  v.set('answer_epoch', answer > 0 ? sec(answer) : '0');
  v.set('answer_uepoch', String(answer));
  for (const k of ['bridge_epoch', 'bridge_uepoch', 'last_hold_epoch', 'last_hold_uepoch']) v.set(k, '0');
  for (const k of ['hold_accum_seconds', 'hold_accum_usec', 'hold_accum_ms']) v.set(k, '0');
  for (const k of ['resurrect_epoch', 'resurrect_uepoch', 'progress_epoch', 'progress_uepoch']) v.set(k, '0');
  for (const k of ['progress_media_epoch', 'progress_media_uepoch']) v.set(k, '0');
  v.set('end_epoch', sec(end));
  v.set('end_uepoch', String(end));
  v.set('last_app', ch.lastApp);
  v.set('last_arg', ch.lastArg);
  const name = typeof callerIdName === 'string' ? Buffer.from(callerIdName) : callerIdName;
  v.set('caller_id', Buffer.concat([Buffer.from('"'), name, Buffer.from(`" <${callerIdNumber}>`)]));
  const units: Array<[string, number]> = [
    ['sec', 1_000_000],
    ['msec', 1000],
    ['usec', 1],
  ];
  for (const [unit, div] of units) {
    const d = (us: number): string => String(Math.floor(us / div));
    const u = unit === 'sec' ? '' : unit.slice(0, unit.length - 3);
    v.set(unit === 'sec' ? 'duration' : `${u}duration`, d(end - start));
    v.set(`bill${unit}`, d(bill));
    v.set(`progress${unit}`, '0');
    v.set(`answer${unit}`, d(wait));
    v.set(`wait${unit}`, d(wait));
    v.set(`progress_media${unit}`, '0');
    v.set(`flow_bill${unit}`, d(bill));
  }
  v.set('is_loopback', '1');
}
