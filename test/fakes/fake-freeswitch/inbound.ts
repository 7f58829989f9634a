/** One inbound ESL connection (port 8021): auth/request, auth, then the listener commands. */
import type { Socket } from 'node:net';
import { handleCommand } from './commands.js';
import type { Hub } from './hub.js';
import { Outlet, Subscription } from './listener.js';
import type { ClientCommand } from './wire.js';
import { CommandReader, commandReply, disconnectNotice } from './wire.js';

export class InboundConnection {
  readonly sub = new Subscription();
  readonly outlet: Outlet;
  private readonly reader = new CommandReader();
  private authed = false;
  private closed = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly cancelAuthTimer: () => void;

  constructor(
    readonly socket: Socket,
    private readonly hub: Hub,
    private readonly password: string,
    authTimeoutMs: number,
    private readonly apiLog: string[],
    private readonly onClose: (conn: InboundConnection) => void,
  ) {
    this.outlet = new Outlet(socket, this.sub, hub.latencyMs);
    hub.addOutlet(this.outlet);
    socket.setNoDelay(true);
    socket.write('Content-Type: auth/request\n\n');
    // read_packet gives a client 25 s to authenticate.
    this.cancelAuthTimer = hub.timers.set(authTimeoutMs, () => {
      if (!this.authed) this.close(true);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const cmd of this.reader.push(chunk)) {
        // api runs in the listener thread: commands on one connection are handled one after another.
        this.chain = this.chain.then(() => this.handle(cmd)).catch(() => undefined);
      }
    });
    socket.on('end', () => this.close(true));
    socket.on('close', () => this.close(false));
    socket.on('error', () => undefined);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  private async handle(cmd: ClientCommand): Promise<void> {
    if (this.closed) return;
    const line = cmd.line.replace(/\r$/, '');
    const lower = line.toLowerCase();
    if (!this.authed) {
      if (lower.startsWith('exit') || lower.startsWith('...')) {
        this.outlet.reply(commandReply('+OK bye'));
        this.close(true);
      } else if (lower.startsWith('auth ')) {
        if (line.slice(5) === this.password) {
          this.authed = true;
          this.cancelAuthTimer();
          this.outlet.reply(commandReply('+OK accepted'));
        } else {
          this.outlet.reply(commandReply('-ERR invalid'));
          this.close(true);
        }
      } else {
        this.outlet.reply(commandReply('-ERR command not found'));
      }
      return;
    }
    await handleCommand(
      {
        hub: this.hub,
        sub: this.sub,
        outlet: this.outlet,
        exit: () => this.close(true),
        logApi: (l) => this.apiLog.push(l),
      },
      cmd,
    );
  }

  /** listener_run's end: queued events dropped, the disconnect notice, then close. */
  close(notice: boolean, message?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelAuthTimer();
    this.outlet.close();
    this.hub.removeOutlet(this.outlet);
    if (notice && !this.socket.destroyed) {
      this.socket.write(message === undefined ? disconnectNotice() : disconnectNotice(undefined, message));
      this.socket.end();
    }
    this.onClose(this);
  }

  stall(ms: number): void {
    this.socket.pause();
    this.outlet.stall(ms);
    this.hub.timers.set(ms, () => {
      if (!this.socket.destroyed) this.socket.resume();
    });
  }
}
