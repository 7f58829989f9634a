/**
 * An outbound-socket call: the `socket <host>:<port> async full` app connecting to the daemon, the
 * session-side commands (connect, linger, myevents, sendmsg), and the socket's end (linger, notices).
 */
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { CallerScript } from './caller.js';
import { Channel } from './channel.js';
import { handleCommand, switchTrue } from './commands.js';
import type { ListenerCtx, SessionHooks } from './commands.js';
import { Engine } from './engine.js';
import type { AudioStreamSlot, CallControl, Hub } from './hub.js';
import { Outlet, Subscription } from './listener.js';
import { newUuid } from './switch-core.js';
import type { CallEnd, ExecutedApp, FakeCall, FakeUnicastState, PlaceCallOptions } from './types.js';
import { openUnicast, unicastState } from './unicast.js';
import type { UnicastSession } from './unicast.js';
import type { ClientCommand } from './wire.js';
import { CommandReader, commandHeader, disconnectNotice, lingerNotice, serializePlain } from './wire.js';

const RATES: Record<string, number> = { PCMU: 8000, PCMA: 8000, L16: 8000, G722: 16000, OPUS: 48000 };

/** Apps that call switch_core_session_reset, which deactivates unicast (switch_ivr.c). */
const ENDS_UNICAST = new Set(['playback', 'record', 'speak', 'wait_for_silence', 'transfer']);

export class OutboundCall implements FakeCall, CallControl {
  readonly uuid: string;
  readonly commands: string[] = [];
  readonly executed: ExecutedApp[] = [];
  readonly recordings: string[] = [];
  readonly violations: string[] = [];
  readonly eventLog: string[] = [];
  readonly connected: Promise<void>;
  readonly ended: Promise<CallEnd>;
  readonly audioStream: AudioStreamSlot = { current: undefined };
  readonly unicast: FakeUnicastState = unicastState(() => this.unicastSession);
  private unicastSession: UnicastSession | undefined;
  private readonly channel: Channel;
  private readonly engine: Engine;
  private readonly caller: CallerScript;
  private readonly sub = new Subscription();
  private readonly reader = new CommandReader();
  private socket: Socket | undefined;
  private outlet: Outlet | undefined;
  private socketOpen = false;
  private closedBy: 'daemon' | 'freeswitch' | undefined;
  private daemonConnected = false;
  private connectFailed = false;
  private lingerSeconds: number | undefined;
  private gone = false;
  private cancelSocketTimer: (() => void) | undefined;
  private resolveConnected!: () => void;
  private resolveEnded!: (end: CallEnd) => void;
  private endedDone = false;
  private parkFired = false;
  private chain: Promise<void> = Promise.resolve();
  /** The TCP connection is fully closed (or never opened): `ended` waits for it. */
  private socketGone = false;

  constructor(
    private readonly hub: Hub,
    private readonly opts: PlaceCallOptions,
  ) {
    this.connected = new Promise((r) => (this.resolveConnected = r));
    this.ended = new Promise((r) => (this.resolveEnded = r));
    const codec = opts.readCodec ?? 'L16';
    const socketData = `${opts.target.host}:${opts.target.port} async full`;
    const variables: Record<string, string> = {};
    if (opts.domainUuid !== undefined) variables.domain_uuid = opts.domainUuid;
    if (opts.domainName !== undefined) variables.domain_name = opts.domainName;
    Object.assign(variables, opts.variables ?? {});
    this.channel = new Channel(hub.core, {
      uuid: opts.uuid,
      channelName: opts.channelName,
      callerIdNumber: opts.callerIdNumber ?? '15551230001',
      callerIdName: opts.callerIdName ?? 'Alice',
      destinationNumber: opts.destinationNumber ?? '8000',
      context: opts.context ?? opts.domainName ?? 'voice.example.com',
      readCodec: codec,
      readRateHz: opts.readRateHz ?? RATES[codec] ?? 8000,
      answered: opts.answered ?? false,
      variables,
      socketData,
      socketHost: opts.target.host,
    });
    this.uuid = this.channel.uuid;
    this.caller = new CallerScript(opts.script ?? [], this.channel.rateHz, {
      dtmf: (d) => this.dtmf(d),
      hangup: (cause) => this.hangup(cause),
      up: () => this.channel.up,
      timer: (ms, fn) => hub.timers.set(ms / hub.speed, fn),
      callTimeMs: () => performance.now() * hub.speed,
    });
    this.engine = new Engine({
      channel: this.channel,
      hub,
      caller: this.caller,
      socketData,
      socketAppUuid: newUuid(),
      opts,
      log: this,
      tapFrame: (samples) => this.audioStream.current?.sendFrame(samples),
      onAppStart: (app) => {
        if (ENDS_UNICAST.has(app)) this.unicastSession?.suspend();
      },
      onAppComplete: (app) => {
        if (ENDS_UNICAST.has(app)) this.unicastSession?.close();
      },
      onUnpark: () => this.unicastSession?.close(),
      onHangup: () => {
        this.unicastSession?.close(true);
        if (this.outlet && this.lingerSeconds === undefined && opts.loseEventsAfterHangup === true) {
          this.outlet.muted = true;
        }
      },
      onGone: () => this.channelGone(),
    });
    this.open();
  }

  private open(): void {
    // FreeSWITCH sets TCP_NODELAY on the socket app's connection (mod_event_socket.c socket_function).
    const socket = netConnect({ host: this.opts.target.host, port: this.opts.target.port, noDelay: true });
    this.socket = socket;
    socket.on('connect', () => {
      this.socketOpen = true;
      const outlet = new Outlet(socket, this.sub, this.hub.latencyMs);
      this.outlet = outlet;
      this.hub.addOutlet(outlet);
      // read_packet's 25 s for the first command.
      this.cancelSocketTimer = this.hub.timers.set(25_000, () => {
        if (this.daemonConnected) return;
        this.violations.push('daemon sent no `connect` within 25 s');
        this.closeByFs();
      });
    });
    socket.on('data', (chunk: Buffer) => {
      // One listener thread: commands are handled in order, an `api` blocks the ones behind it.
      for (const cmd of this.reader.push(chunk)) {
        this.chain = this.chain.then(() => this.onCommand(cmd)).catch(() => undefined);
      }
    });
    socket.on('end', () => this.daemonClosed(true));
    socket.on('close', () => {
      this.socketGone = true;
      this.daemonClosed(false);
      this.maybeEnd();
    });
    socket.on('error', () => {
      if (!this.socketOpen && !this.closedBy) {
        this.connectFailed = true;
        this.closedBy = 'freeswitch';
        this.engine.afterSocket();
      }
    });
  }

  private async onCommand(cmd: ClientCommand): Promise<void> {
    if (!this.outlet || !this.socketOpen) return;
    this.commands.push(describe(cmd));
    const ctx: ListenerCtx = {
      hub: this.hub,
      sub: this.sub,
      outlet: this.outlet,
      session: this.sessionHooks(),
      exit: () => this.closeAfterExit(),
      logApi: () => undefined,
    };
    await handleCommand(ctx, cmd);
  }

  private sessionHooks(): SessionHooks {
    return {
      uuid: this.uuid,
      connect: () => {
        this.outlet?.reply(serializePlain(this.channel.channelData()));
        if (!this.daemonConnected) {
          this.daemonConnected = true;
          this.cancelSocketTimer?.();
          this.resolveConnected();
          // LFLAG_CONNECTED: the socket app parks now (unless a test delays it to race the subscription).
          if (!this.opts.parkEvent) this.firePark();
          this.caller.start();
        }
      },
      getvar: (name) => this.channel.vars.get(name) ?? '',
      linger: (seconds) => {
        this.lingerSeconds = seconds ?? -1;
        return seconds === undefined ? '+OK will linger' : `+OK will linger ${seconds} seconds`;
      },
      nolinger: () => {
        this.lingerSeconds = undefined;
        return '+OK will not linger';
      },
      resume: () => this.channel.vars.set('socket_resume', 'true'),
      sendmsg: (cmd) => {
        if (this.opts.parkEvent && !this.parkFired) {
          this.firePark();
          if (this.opts.parkEvent === 'before-reply') this.outlet?.flush();
        }
        this.sendmsg(cmd.headers, cmd.body);
      },
      afterMyevents: () => undefined,
    };
  }

  private firePark(): void {
    if (this.parkFired || !this.channel.up) return;
    this.parkFired = true;
    this.engine.fireChannel('CHANNEL_PARK');
  }

  /** switch_ivr_parse_event: call-command execute / hangup. */
  sendmsg(headers: Array<[string, string]>, body: Buffer | undefined): void {
    const cmd: ClientCommand = { line: 'sendmsg', headers, body };
    const command = (commandHeader(cmd, 'call-command') ?? '').toLowerCase();
    const lock = switchTrue(commandHeader(cmd, 'event-lock'));
    if (command === 'execute') {
      const app = commandHeader(cmd, 'execute-app-name') ?? '';
      const arg = commandHeader(cmd, 'execute-app-arg') ?? body?.toString('utf8') ?? '';
      const loops = Number.parseInt(commandHeader(cmd, 'loops') ?? '1', 10) || 1;
      const appUuid = commandHeader(cmd, 'Event-UUID') ?? newUuid();
      if (app.length === 0) {
        this.violations.push('sendmsg execute without execute-app-name');
        return;
      }
      if (!lock) this.violations.push(`sendmsg execute ${app} without event-lock`);
      this.engine.enqueue({ kind: 'execute', app, arg, appUuid, loops, lock });
    } else if (command === 'hangup') {
      const cause = commandHeader(cmd, 'hangup-cause') ?? 'NORMAL_CLEARING';
      this.engine.enqueue({ kind: 'hangup', app: '', arg: cause, appUuid: '', loops: 1, lock });
    } else if (command === 'unicast') {
      const run = (): void => this.startUnicast(cmd);
      this.engine.enqueue({ kind: 'command', app: 'unicast', arg: '', appUuid: '', loops: 1, lock, run });
    } else {
      this.violations.push(`sendmsg call-command ${command || '(none)'} is not supported by the fake`);
    }
  }

  /** switch_ivr_activate_unicast, run by the park loop when it dequeues the message. */
  private startUnicast(cmd: ClientCommand): void {
    if (this.unicastSession) {
      // Park keeps the first connection; a second one is bound but dead, or shut down at once.
      this.violations.push('second unicast in one call');
      return;
    }
    this.unicastSession = openUnicast(cmd, {
      hub: this.hub,
      rateHz: this.channel.rateHz,
      refuse: this.opts.unicast === 'refuse',
      readFrame: () => {
        const frame = this.channel.up ? this.caller.nextFrame('stream') : undefined;
        // An attached mod_audio_stream sees the same read frames.
        if (frame) this.audioStream.current?.sendFrame(frame.samples);
        return frame;
      },
      onDaemonAudio: (at) => this.caller.onUnicastAudio(at),
      violation: (text) => this.violations.push(text),
    });
  }

  private channelGone(): void {
    this.gone = true;
    if (this.socketOpen && this.outlet) {
      if (this.lingerSeconds === undefined) {
        this.closeByFs();
      } else {
        this.outlet.enqueueRaw(lingerNotice(this.uuid, this.channel.name, this.lingerSeconds));
        const seconds = this.lingerSeconds;
        const within = this.opts.linger?.daemonCloseWithinMs ?? 30_000;
        this.cancelSocketTimer =
          seconds >= 0
            ? this.hub.timers.set((seconds * 1000 + 300) / this.hub.speed, () => this.closeByFs())
            : this.hub.timers.set(within, () => {
                this.violations.push(`daemon did not close the lingering socket within ${within} ms`);
                this.closeByFs();
              });
      }
    }
    this.maybeEnd();
  }

  /** FreeSWITCH ends the listener: the disconnect notice behind the queued events, then close. */
  private closeByFs(): void {
    if (!this.socketOpen || !this.outlet) return;
    this.outlet.enqueueRaw(disconnectNotice(this.uuid), () => this.closeSocket('freeswitch', false));
  }

  private closeAfterExit(): void {
    this.closeSocket('daemon', true);
  }

  /** listener_run's end: queued events are dropped (flush_listener), then the notice, then close. */
  private closeSocket(by: 'daemon' | 'freeswitch', writeNotice: boolean): void {
    if (!this.socketOpen) return;
    this.socketOpen = false;
    this.closedBy ??= by;
    this.cancelSocketTimer?.();
    this.outlet?.close();
    if (writeNotice) this.socket?.write(disconnectNotice(this.uuid));
    this.socket?.end();
    // The listener is gone: the socket app's park ends (a no-op once the channel is down).
    this.engine.socketEnded();
    this.maybeEnd();
  }

  private daemonClosed(halfClose: boolean): void {
    if (this.socketOpen) this.closeSocket('daemon', halfClose);
  }

  private maybeEnd(): void {
    if (this.endedDone || !this.gone || this.socketOpen || !this.socketGone) return;
    this.endedDone = true;
    if (this.outlet) this.hub.removeOutlet(this.outlet);
    this.audioStream.current?.close();
    this.unicastSession?.close(true);
    const end: CallEnd = {
      hangupCause: this.channel.hangupCause ?? 'NORMAL_CLEARING',
      socketClosedBy: this.closedBy ?? 'freeswitch',
    };
    if (this.engine.transferredTo !== undefined) end.transferredTo = this.engine.transferredTo;
    if (this.engine.transferredContext !== undefined) end.transferredContext = this.engine.transferredContext;
    if (this.connectFailed) end.connectFailed = true;
    this.resolveEnded(end);
  }

  /** stop(): the switch shuts down under the call. */
  shutdown(): void {
    if (this.socketOpen) {
      this.outlet?.close();
      this.socket?.write(disconnectNotice(this.uuid, 'The system is being shut down.\n'));
      this.socketOpen = false;
      this.closedBy ??= 'freeswitch';
    }
    this.socket?.destroy();
    this.unicastSession?.close(true);
    if (this.channel.up) {
      this.channel.hangupCause = 'SYSTEM_SHUTDOWN';
      this.channel.answerState = 'hangup';
    }
    this.gone = true;
    this.maybeEnd();
  }

  /** The caller's leg hangs up. */
  hangup(cause?: string): void {
    if (this.unicastSession?.inPark === true) this.engine.unparkThenHangup(cause ?? 'NORMAL_CLEARING');
    else this.engine.hangup(cause ?? 'NORMAL_CLEARING');
  }

  dtmf(digit: string): void {
    for (const d of digit) this.engine.dtmf(d);
  }

  variables(): Record<string, string> {
    return this.channel.vars.toRecord();
  }

  emitCustomEvent(subclass: string, body?: string): void {
    this.engine.fireCustom(subclass, body);
  }

  readonly faults = {
    dropSocket: (): void => {
      if (this.socketOpen) this.closedBy ??= 'freeswitch';
      this.socket?.destroy();
    },
    sendRaw: (bytes: Buffer): void => {
      this.socket?.write(bytes);
    },
    stallReads: (ms: number): void => {
      this.socket?.pause();
      this.outlet?.stall(ms);
      this.hub.timers.set(ms, () => this.socket?.resume());
    },
    holdExecutes: (apps?: readonly string[]): void => {
      this.engine.held = apps === undefined ? 'all' : new Set(apps);
    },
  };

  // CallControl (api commands from any connection)
  get rateHz(): number {
    return this.channel.rateHz;
  }
  pullStreamFrame(): Int16Array | undefined {
    // A record, or the unicast park loop, reads the channel and feeds the stream itself.
    if (!this.channel.up || this.engine.isRecording() || this.unicast.active) return undefined;
    return this.caller.nextFrame('stream')?.samples;
  }
  isUp(): boolean {
    return this.channel.up;
  }
  breakApps(all: boolean): void {
    this.engine.breakApps(all);
  }
  kill(cause: string): void {
    this.engine.hangup(cause);
  }
  transferTo(destination: string, dialplan: string | undefined, context: string | undefined): void {
    this.engine.transferFromApi(destination, dialplan, context);
  }
  broadcast(path: string): void {
    this.engine.enqueue({
      kind: 'execute',
      app: 'playback',
      arg: path,
      appUuid: newUuid(),
      loops: 1,
      lock: true,
    });
  }
  setVar(name: string, value: string | undefined): void {
    this.channel.vars.set(name, value);
  }
  getVar(name: string): string | undefined {
    return this.channel.vars.get(name);
  }
  answer(): void {
    if (this.channel.answered || !this.channel.up) return;
    this.channel.markAnswered();
    this.engine.fireChannel('CHANNEL_ANSWER');
    this.channel.callState = 'ACTIVE';
    this.channel.vars.set('endpoint_disposition', 'ANSWER');
  }
}

function describe(cmd: ClientCommand): string {
  if (!cmd.line.toLowerCase().startsWith('sendmsg')) return cmd.line;
  const h = (n: string): string => commandHeader(cmd, n) ?? '';
  const parts = [
    cmd.line.trim(),
    h('call-command'),
    h('execute-app-name'),
    h('execute-app-arg') || h('hangup-cause'),
  ];
  return parts.filter((p) => p.length > 0).join(' ');
}
