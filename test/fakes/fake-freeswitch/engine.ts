/**
 * The channel's execution engine: the private event queue that sendmsg feeds (with CF_EVENT_LOCK
 * semantics), the CHANNEL_EXECUTE / _COMPLETE wrapper, hangup, transfer and the socket app's end.
 */
import { APPS } from './apps.js';
import type { AppEnv } from './apps.js';
import type { CallerScript } from './caller.js';
import type { Channel } from './channel.js';
import type { Hub } from './hub.js';
import { RunControl } from './runtime.js';
import { newUuid } from './switch-core.js';
import type { ExecutedApp, PlaceCallOptions } from './types.js';
import type { HeaderValue } from './wire.js';

export interface Msg {
  /** `command`: a call-command the park loop handles itself (unicast), by `run`. */
  kind: 'execute' | 'hangup' | 'command';
  app: string;
  arg: string;
  appUuid: string;
  loops: number;
  /** `event-lock: true`: CF_EVENT_LOCK while it runs, so nothing else is dequeued. */
  lock: boolean;
  run?: () => void;
}

/** Apps whose loops poll the private event queue (switch_ivr_parse_all_events), so messages can nest. */
const BLOCKING = new Set(['playback', 'record', 'sleep']);

export interface EngineDeps {
  channel: Channel;
  hub: Hub;
  caller: CallerScript;
  socketData: string;
  socketAppUuid: string;
  opts: PlaceCallOptions;
  log: { executed: ExecutedApp[]; recordings: string[]; violations: string[]; eventLog: string[] };
  tapFrame(samples: Int16Array): void;
  /** After CHANNEL_HANGUP fired. */
  onHangup(): void;
  /** After CHANNEL_HANGUP_COMPLETE fired. */
  onGone(): void;
  /** An application is about to run (before CHANNEL_EXECUTE), and after its CHANNEL_EXECUTE_COMPLETE. */
  onAppStart?(app: string): void;
  onAppComplete?(app: string): void;
  /** The socket app's park loop ends (before CHANNEL_UNPARK). */
  onUnpark?(): void;
}

export class Engine {
  /** The private event queue; mod_event_socket never uses the priority queue. */
  private readonly queue: Msg[] = [];
  private lock = 0;
  private active = 0;
  private blockingActive = 0;
  private readonly controls = new Set<RunControl>();
  private idleWaiters: Array<() => void> = [];
  private pendingTransfer = false;
  private socketReturnPending = false;
  socketAppDone = false;
  transferredTo: string | undefined;
  transferredContext: string | undefined;
  /** Apps that never complete while the channel is up (a wedged switch); `all` for every app. */
  held: ReadonlySet<string> | 'all' | undefined;
  private heldWaiters: Array<() => void> = [];

  constructor(private readonly d: EngineDeps) {}

  private get channel(): Channel {
    return this.d.channel;
  }

  fireChannel(
    name: string,
    extra: Array<[string, HeaderValue]> = [],
    opts: { subclass?: string; site?: string } = {},
  ): void {
    const event = this.channel.event(name, extra, opts);
    const label = extra.find(([n]) => n === 'Application' || n === 'DTMF-Digit')?.[1];
    this.d.log.eventLog.push(label === undefined ? name : `${name} ${label.toString()}`);
    this.d.hub.fire(event);
  }

  /** A CUSTOM event bound to the channel (as mod_audio_stream fires them), with an optional body. */
  fireCustom(subclass: string, body?: string, site = 'AUDIO_STREAM'): void {
    const event = this.channel.event('CUSTOM', [], { subclass, site });
    if (body !== undefined && body.length > 0) event.body = Buffer.from(body, 'utf8');
    this.d.log.eventLog.push(`CUSTOM ${subclass}`);
    this.d.hub.fire(event);
  }

  fireDtmf(digit: string): void {
    this.fireChannel('DTMF', [
      ['DTMF-Digit', digit],
      ['DTMF-Duration', '2000'],
      ['DTMF-Source', 'UNKNOWN'],
    ]);
  }

  /** A sendmsg for this channel (from the outbound socket or `sendmsg <uuid>` elsewhere). */
  enqueue(msg: Msg): void {
    if (!this.channel.up) return;
    this.queue.push(msg);
    this.pump();
  }

  /** switch_core_session_dequeue_private_event: nothing while an event-locked app runs. */
  private dequeue(): Msg | undefined {
    return this.lock > 0 ? undefined : this.queue.shift();
  }

  private pump(): void {
    this.drain();
    if (this.active === 0) this.settle();
  }

  private drain(): void {
    for (;;) {
      if (!this.channel.up || this.pendingTransfer) return;
      const inside = this.active > 0;
      if (inside && this.blockingActive === 0) return;
      const msg = this.dequeue();
      if (!msg) return;
      if (inside) {
        this.d.log.violations.push(
          `sendmsg ${msg.kind === 'hangup' ? 'hangup' : msg.app} ran nested inside a running app sent without event-lock`,
        );
      }
      if (msg.kind === 'hangup') this.hangup(msg.arg);
      else if (msg.kind === 'command') msg.run?.();
      else this.start(msg);
    }
  }

  private start(msg: Msg): void {
    const blocking = BLOCKING.has(msg.app);
    this.active++;
    if (msg.lock) this.lock++;
    if (blocking) this.blockingActive++;
    void this.execLoops(msg).finally(() => {
      this.active--;
      if (msg.lock) this.lock--;
      if (blocking) this.blockingActive--;
      this.pump();
    });
  }

  private async execLoops(msg: Msg): Promise<void> {
    const v = this.channel.vars;
    for (let loop = 1; loop <= msg.loops && this.channel.up; loop++) {
      v.set('current_loop', String(loop));
      v.set('total_loops', String(msg.loops));
      await this.execOnce(msg.app, msg.arg, msg.appUuid);
    }
    v.delete('current_loop');
    v.delete('total_loops');
  }

  /** switch_core_session_exec: variables, CHANNEL_EXECUTE, the app, CHANNEL_EXECUTE_COMPLETE. */
  async execOnce(app: string, rawArg: string, appUuid: string): Promise<void> {
    this.d.onAppStart?.(app);
    const impl = APPS[app];
    if (!impl) {
      this.d.log.violations.push(`unknown application ${app}`);
      this.hangup('DESTINATION_OUT_OF_ORDER');
      this.d.onAppComplete?.(app);
      return;
    }
    const ch = this.channel;
    const arg = rawArg.replace(/\$\{([^}]+)\}/g, (_, name: string) => ch.vars.get(name) ?? '');
    ch.vars.set('current_application', app);
    ch.vars.set('current_application_data', arg);
    ch.vars.delete('current_application_response');
    ch.lastApp = app;
    ch.lastArg = arg;
    const appHeaders = (response?: string): Array<[string, HeaderValue]> => [
      ['Application', app],
      ...(arg.length > 0 ? ([['Application-Data', arg]] as Array<[string, HeaderValue]>) : []),
      ...(response !== undefined
        ? ([['Application-Response', response]] as Array<[string, HeaderValue]>)
        : []),
      ['Application-UUID', appUuid],
    ];
    this.fireChannel('CHANNEL_EXECUTE', appHeaders());
    ch.vars.set('current_application', app);
    if (this.held === 'all' || this.held?.has(app) === true) {
      // Wedged: no uuid_break gets it out, only the channel going down (it still completes after the hangup,
      // as FreeSWITCH's apps return once the channel is hung up).
      if (ch.up) await new Promise<void>((resolve) => this.heldWaiters.push(resolve));
    } else {
      const ctl = new RunControl(app, impl.takesDtmf);
      this.controls.add(ctl);
      try {
        await impl.fn(this.env(ctl), arg);
      } finally {
        this.controls.delete(ctl);
      }
    }
    const response = ch.vars.get('current_application_response') ?? '_none_';
    this.fireChannel('CHANNEL_EXECUTE_COMPLETE', appHeaders(response));
    this.d.log.executed.push({ app, arg, response, variables: ch.vars.toRecord(), applicationUuid: appUuid });
    this.d.onAppComplete?.(app);
  }

  private env(ctl: RunControl): AppEnv {
    const { hub } = this.d;
    return {
      channel: this.channel,
      ctl,
      caller: this.d.caller,
      recordDir: hub.recordDir,
      fireChannel: (name, extra) => this.fireChannel(name, extra),
      fireDtmf: (digit) => this.fireDtmf(digit),
      hangup: (cause) => this.hangup(cause),
      wait: (callMs) => ctl.wait(hub.timers, callMs / hub.speed),
      callTimeMs: () => performance.now() * hub.speed,
      transfer: (dest, dialplan, context) => this.prepareTransfer(dest, dialplan, context),
      breakOthers: () => {
        for (const c of this.controls) if (c !== ctl) this.breakControl(c);
      },
      recordings: this.d.log.recordings,
      tapFrame: (samples) => this.d.tapFrame(samples),
    };
  }

  private breakControl(c: RunControl): void {
    c.brk = true;
    c.wake();
  }

  isRecording(): boolean {
    return Array.from(this.controls).some((c) => c.app === 'record');
  }

  /** uuid_break [all]: CF_BREAK on the running apps; `all` flushes the queued messages too. */
  breakApps(all: boolean): void {
    if (all) {
      this.queue.length = 0;
    }
    for (const c of this.controls) this.breakControl(c);
  }

  /** The caller pressed a key: the running playback/record dequeues it, otherwise the park loop does. */
  dtmf(digit: string): void {
    if (!this.channel.up) return;
    this.channel.digitsDialed += digit;
    const taker = Array.from(this.controls).find((c) => c.takesDtmf);
    if (taker) {
      taker.dtmf.push(digit);
      taker.wake();
    } else {
      this.fireDtmf(digit);
    }
  }

  /**
   * The caller's leg hung up while the channel sat in the socket app's unicast park: park's frame read fails
   * first, so CHANNEL_UNPARK and the socket app's EXECUTE_COMPLETE come before CHANNEL_HANGUP, still
   * `Answer-State: answered` (unicast-hangup.jsonl, 3 times out of 3).
   */
  unparkThenHangup(cause: string): void {
    if (this.channel.up && this.active === 0 && !this.socketAppDone && !this.pendingTransfer) {
      this.endSocketApp();
    }
    this.hangup(cause);
  }

  /** switch_channel_hangup: CHANNEL_HANGUP now; the rest once the running apps have returned. */
  hangup(cause: string): void {
    const ch = this.channel;
    if (!ch.up) return;
    ch.hangupCause = cause;
    ch.answerState = 'hangup';
    ch.stateNumber = 10;
    this.queue.length = 0;
    this.d.caller.stop();
    this.fireChannel('CHANNEL_HANGUP');
    this.d.onHangup();
    for (const c of this.controls) c.wake();
    for (const release of this.heldWaiters.splice(0)) release();
    void this.finishHangup();
  }

  private async finishHangup(): Promise<void> {
    await this.whenIdle();
    const ch = this.channel;
    this.endSocketApp();
    ch.setState('CS_HANGUP', 'ACTIVE', 10);
    this.fireChannel('CHANNEL_STATE');
    ch.hangupUs = this.d.hub.core.nowUs();
    ch.setState('CS_REPORTING', 'HANGUP', 11);
    this.fireChannel('CHANNEL_STATE');
    ch.setCdrVariables();
    this.fireChannel('CHANNEL_HANGUP_COMPLETE');
    this.d.onGone();
  }

  /** The socket app returns (its park loop ends): CHANNEL_UNPARK, then its CHANNEL_EXECUTE_COMPLETE. */
  private endSocketApp(): void {
    if (this.socketAppDone) return;
    this.socketAppDone = true;
    this.d.onUnpark?.();
    this.fireChannel('CHANNEL_UNPARK');
    const response = this.channel.vars.get('current_application_response') ?? '_none_';
    this.fireChannel('CHANNEL_EXECUTE_COMPLETE', [
      ['Application', 'socket'],
      ['Application-Data', this.d.socketData],
      ['Application-Response', response],
      ['Application-UUID', this.d.socketAppUuid],
    ]);
  }

  whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Runs when nothing executes: idle waiters, then a pending transfer or socket return. */
  private settle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
    if (!this.channel.up) return;
    if (this.pendingTransfer) {
      this.pendingTransfer = false;
      void this.continueTransfer();
    } else if (this.socketReturnPending && this.queue.length === 0) {
      this.socketReturnPending = false;
      this.afterSocket();
    }
  }

  /** The transfer app / uuid_transfer: new caller profile, transfer variables, state CS_ROUTING pending. */
  prepareTransfer(dest: string, dialplan: string | undefined, context: string | undefined): void {
    const ch = this.channel;
    const ctx = context ?? ch.context;
    const dp = dialplan ?? 'XML';
    const source = `${Math.floor(Date.now() / 1000)}:${newUuid()}:bl_xfer:${dest}/${ctx}/${dp}`;
    ch.vars.set('max_forwards', '70');
    ch.vars.set('transfer_history', source);
    ch.vars.set('transfer_source', source);
    ch.transferProfile(dest, dp, ctx, source);
    ch.stateNumber = 2;
    this.transferredTo = dest;
    this.transferredContext = ctx;
    this.pendingTransfer = true;
  }

  /** uuid_transfer from the api: interrupts what runs, drops the queue, then routes. */
  transferFromApi(dest: string, dialplan: string | undefined, context: string | undefined): void {
    this.prepareTransfer(dest, dialplan, context);
    this.breakApps(true);
    if (this.active === 0) this.settle();
  }

  private async continueTransfer(): Promise<void> {
    const ch = this.channel;
    this.queue.length = 0;
    this.endSocketApp();
    ch.setState('CS_ROUTING', 'RINGING', 2);
    this.fireChannel('CHANNEL_STATE');
    ch.vars.set('call_uuid', ch.uuid);
    ch.setState('CS_EXECUTE', 'ACTIVE', 4);
    this.fireChannel('CHANNEL_STATE');
    const target = this.d.opts.afterTransfer ?? {};
    if (target === 'park') return;
    await this.runDialplan([
      ['answer', ''],
      ['playback', `tone_stream://%(${target.playMs ?? 5000},0,440)`],
      ['hangup', target.hangupCause ?? 'NORMAL_CLEARING'],
    ]);
  }

  /** Dialplan applications (not sendmsg): no loop variables, generated Application-UUIDs. */
  private async runDialplan(apps: Array<[string, string]>): Promise<void> {
    for (const [app, arg] of apps) {
      if (!this.channel.up) return;
      this.active++;
      this.lock++;
      if (BLOCKING.has(app)) this.blockingActive++;
      try {
        await this.execOnce(app, arg, newUuid());
      } finally {
        this.active--;
        this.lock--;
        if (BLOCKING.has(app)) this.blockingActive--;
        this.pump();
      }
    }
  }

  /** The outbound socket closed (either side): queued apps still run, then the socket app returns. */
  socketEnded(): void {
    if (!this.channel.up || this.socketAppDone) return;
    this.socketReturnPending = true;
    this.pump();
  }

  /** The dialplan after `socket`: hang up (no further actions) or stay parked. */
  afterSocket(): void {
    this.endSocketApp();
    if ((this.d.opts.afterSocket ?? 'hangup') === 'hangup') this.hangup('NORMAL_CLEARING');
  }
}
