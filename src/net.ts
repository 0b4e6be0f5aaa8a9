/**
 * A Node `net`-compatible surface over one Stack: `Server` (an EventEmitter: 'listening',
 * 'connection', 'error', 'close'), `Socket` (a real `stream.Duplex`: backpressure, half-close,
 * 'connect' / 'ready' / 'data' / 'end' / 'close' / 'error' / 'timeout'), `createServer`, `connect` /
 * `createConnection`, all on top of the BSD layer's non-blocking calls (src/bsd.ts).
 *
 * No Node imports, so it runs in browsers too: Socket extends the `Duplex` of `readable-stream`
 * (the Node project's own user-land copy of `node:stream`), events come from the `events`
 * package and bytes are `Buffer`s of the `buffer` package. In Node, `events` and `buffer`
 * resolve to Node's built-in modules, so `pipe()`, backpressure, `stream.pipeline` and Node's
 * `http` module work unmodified; in a browser bundle they resolve to the npm packages.
 * It is a separate entry point (`wtcp/net`) only to keep the main entry small: importing it
 * installs `stack.net` on every Stack (created lazily, one per stack); `netFor(stack)` does the
 * same without relying on the property.
 *
 * Errors are shaped like Node's: `code` ('ECONNREFUSED'), `errno` (negative, in the personality's
 * own numbering, as libuv reports the OS's: -111 for ECONNREFUSED on Linux), `syscall` ('connect',
 * 'listen', 'read', 'write'), `address`, `port`, and are always emitted asynchronously.
 *
 * Timers (setTimeout) run on the stack's clock, so they follow a VirtualClock in tests.
 */

import { Duplex } from 'readable-stream';
import { EventEmitter } from 'events';
import { Buffer } from 'buffer';
import { Stack } from './stack.js';
import { SocketError, errnoNumber } from './errno.js';
import type { ErrnoName } from './errno.js';
import { isIPv4 } from './addr.js';
import type { TimerHandle } from './clock.js';

const READ_CHUNK = 65536;
/** bytes read synchronously land in a pool this large; each pushed Buffer is a view of its own bytes */
const READ_POOL = 128 * 1024;
/** a pool with less room than this left is replaced (never reused: pushed Buffers keep their bytes) */
const READ_POOL_MIN = 4096;
const FIN_POLL_MS = 10;
const REARM = Symbol('rearm');

function defer(fn: () => void): void {
  const p = (globalThis as { process?: { nextTick?: (f: () => void) => void } }).process;
  if (p?.nextTick) p.nextTick(fn);
  else queueMicrotask(fn);
}

/** A Node-style system error (what libuv errors look like in Node). */
export interface NetError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

function netError(stack: Stack, syscall: string, code: ErrnoName, address?: string, port?: number): NetError {
  const errno = -errnoNumber(stack.family === 'linux' ? 'linux' : 'bsd', code);
  let msg = `${syscall} ${code}`;
  if (address !== undefined) msg += ` ${address}${port !== undefined && port > 0 ? `:${port}` : ''}`;
  const e = new Error(msg) as NetError;
  e.errno = errno;
  e.code = code;
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  if (port !== undefined) e.port = port;
  return e;
}

/** A SocketError from the BSD layer as Node would report it; other errors pass through. */
function fromBsd(stack: Stack, e: unknown, syscall: string, address?: string, port?: number): Error {
  if (e instanceof SocketError) return netError(stack, syscall, e.code, address ?? e.address, port ?? e.port);
  return e instanceof Error ? e : new Error(String(e));
}

/** Node's ERR_INVALID_ARG_TYPE, for an argument of the wrong type. */
function invalidArgType(name: string, type: string, value: unknown): TypeError {
  const got = value === null ? 'null' : typeof value === 'object' ? 'an object' : `type ${typeof value} (${String(value)})`;
  return Object.assign(new TypeError(`The "${name}" argument must be of type ${type}. Received ${got}`), { code: 'ERR_INVALID_ARG_TYPE' });
}

function isBadf(e: unknown): boolean {
  return e instanceof SocketError && e.code === 'EBADF';
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

export interface SocketOptions {
  allowHalfOpen?: boolean;
  /** wrap an accepted descriptor (used by Server) */
  fd?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

export interface ConnectOptions {
  port: number | string;
  host?: string;
  localAddress?: string;
  localPort?: number;
  allowHalfOpen?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  timeout?: number;
  signal?: AbortSignal;
}

/** One TCP connection of a Stack, as Node's net.Socket. */
export class Socket extends Duplex {
  readonly stack: Stack;
  bytesRead = 0;
  #bytesWritten = 0;
  connecting = false;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
  readonly remoteFamily = 'IPv4';
  #fd = -1;
  #reading = false;
  #wantRead = false;
  #eof = false;
  #shutWr = false;
  #readAbort: AbortController | undefined;
  /** the read pool (see READ_POOL) and where its free part starts */
  #pool: Uint8Array | undefined;
  #poolOff = 0;
  /** inside #readSync (push() may call _read() again) */
  #inReadSync = false;
  #pendingConnect: (() => void)[] = [];
  #timeoutMs = 0;
  #timer: TimerHandle | undefined;
  #noDelay: boolean | undefined;
  #keepAlive: { enable: boolean; delay: number } | undefined;
  /** the Server that accepted it, if any */
  server: Server | undefined;

  constructor(stack: Stack, opts: SocketOptions = {}) {
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      emitClose: false, // 'close' carries hadError, emitted by _destroy as Node's net does
      decodeStrings: true,
      readableHighWaterMark: opts.readableHighWaterMark,
      writableHighWaterMark: opts.writableHighWaterMark,
    } as ConstructorParameters<typeof Duplex>[0]); // (@types/readable-stream lacks emitClose)
    this.stack = stack;
    if (opts.fd !== undefined) {
      this.#fd = opts.fd;
      this.#learnAddresses();
    }
  }

  /** the descriptor in stack.bsd (-1 once closed) */
  get fd(): number {
    return this.#fd;
  }

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  get pending(): boolean {
    return this.#fd < 0 || this.connecting;
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.destroyed || this.#fd < 0) return 'closed';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  #learnAddresses(): void {
    try {
      const l = this.stack.bsd.getsockname(this.#fd);
      this.localAddress = l.address;
      this.localPort = l.port;
    } catch { /* closed */ }
    try {
      const r = this.stack.bsd.getpeername(this.#fd);
      this.remoteAddress = r.address;
      this.remotePort = r.port;
    } catch { /* not connected */ }
  }

  /** connect(port, host?, cb?) or connect({ port, host, localAddress, localPort, ... }, cb?) */
  connect(port: number | string, host?: string, cb?: () => void): this;
  connect(port: number | string, cb?: () => void): this;
  connect(opts: ConnectOptions, cb?: () => void): this;
  connect(a: number | string | ConnectOptions, b?: string | (() => void), c?: () => void): this {
    const opts: ConnectOptions = typeof a === 'object' && a !== null ? a : { port: a, host: typeof b === 'string' ? b : undefined };
    const cb = typeof b === 'function' ? b : c;
    if (this.connecting || this.#fd >= 0) throw Object.assign(new Error('Socket is already connected or connecting'), { code: 'ERR_SOCKET_CONNECTION_TIMEOUT' });
    const port = Number(opts.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw Object.assign(new RangeError(`Port should be >= 0 and < 65536. Received ${String(opts.port)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    const host = opts.host ?? 'localhost';
    // what Node's lookupAndConnect checks before it starts: these throw, synchronously
    if (typeof host !== 'string') throw invalidArgType('options.host', 'string', host);
    if (opts.localAddress !== undefined && !isIPv4(opts.localAddress)) {
      throw Object.assign(new TypeError(`Invalid IP address: ${String(opts.localAddress)}`), { code: 'ERR_INVALID_IP_ADDRESS' });
    }
    if (opts.localPort !== undefined && (!Number.isInteger(opts.localPort) || opts.localPort < 0 || opts.localPort > 65535)) {
      throw Object.assign(new RangeError(`options.localPort should be >= 0 and < 65536. Received ${String(opts.localPort)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    if (cb) this.once('connect', cb);
    if (opts.timeout) this.setTimeout(opts.timeout);
    if (opts.noDelay) this.#noDelay = true;
    if (opts.keepAlive) this.#keepAlive = { enable: true, delay: opts.keepAliveInitialDelay ?? 0 };
    this.connecting = true;
    if (!isIPv4(host)) {
      // no resolver in the stack: only IPv4 literals; fail as Node's failed lookup does
      defer(() => {
        const e = new Error(`getaddrinfo ENOTFOUND ${host}`) as NetError;
        e.code = 'ENOTFOUND';
        e.syscall = 'getaddrinfo';
        e.hostname = host;
        this.connecting = false;
        this.destroy(e);
      });
      return this;
    }
    const bsd = this.stack.bsd;
    let started: Promise<void>;
    try {
      this.#fd = bsd.socket('AF_INET', 'SOCK_STREAM');
      if (opts.localAddress !== undefined || opts.localPort !== undefined) {
        bsd.bind(this.#fd, { address: opts.localAddress ?? '0.0.0.0', port: opts.localPort ?? 0 });
      }
      this.#applyOptions();
      started = bsd.connectAsync(this.#fd, { address: host, port }, { signal: opts.signal });
    } catch (e) {
      started = Promise.reject(e);
    }
    started.then(
      () => {
        if (this.destroyed) return;
        this.connecting = false;
        this.#learnAddresses();
        this.#touch();
        this.emit('connect');
        this.emit('ready');
        for (const f of this.#pendingConnect.splice(0)) f();
        if (this.#wantRead) this.#readLoop();
        else this.read(0);
      },
      (e: unknown) => {
        if (this.destroyed) return;
        this.connecting = false;
        const err = e instanceof SocketError ? fromBsd(this.stack, e, 'connect', host, port) : e instanceof Error ? e : new Error(String(e));
        this.destroy(err);
      },
    );
    return this;
  }

  #applyOptions(): void {
    if (this.#fd < 0) return;
    const bsd = this.stack.bsd;
    if (this.#noDelay !== undefined) {
      try { bsd.setsockopt(this.#fd, 'IPPROTO_TCP', 'TCP_NODELAY', this.#noDelay ? 1 : 0); } catch { /* ignored as Node does */ }
    }
    if (this.#keepAlive) {
      try {
        bsd.setsockopt(this.#fd, 'SOL_SOCKET', 'SO_KEEPALIVE', this.#keepAlive.enable ? 1 : 0);
        if (this.#keepAlive.enable && this.#keepAlive.delay > 0) {
          bsd.setsockopt(this.#fd, 'IPPROTO_TCP', 'TCP_KEEPIDLE', Math.max(1, Math.floor(this.#keepAlive.delay / 1000)));
        }
      } catch { /* 4.3BSD has no TCP_KEEPIDLE: its fixed timers apply */ }
    }
  }

  // --- reading -----------------------------------------------------------------------------------

  override _read(): void {
    this.#wantRead = true;
    if (this.connecting || this.#fd < 0) return;
    this.#readLoop();
  }

  #readLoop(): void {
    if (this.#reading || this.#inReadSync || this.#eof || this.destroyed || this.#fd < 0) return;
    // what is already buffered is read at once, into the pool: no promise and no allocation per chunk
    if (!this.#readSync()) return;
    this.#reading = true;
    const fd = this.#fd;
    // Workaround for a core gap: a FIN that moves FIN-WAIT-2 to TIME-WAIT raises no Readable event
    // (assembly/tcp/conn.ts returns before afterReadable), so once our side is shut a pending read
    // is re-armed every FIN_POLL_MS; the non-blocking read that follows then sees the end.
    let poll: TimerHandle | undefined;
    // one controller serves every wait until it is used (aborting re-arms the pending wait)
    let ac = this.#readAbort;
    if (ac === undefined || ac.signal.aborted) ac = this.#readAbort = new AbortController();
    const signal = ac.signal;
    const armed = ac;
    if (this.#shutWr) poll = this.stack.clock.setTimeout(() => { poll = undefined; armed.abort(REARM); }, FIN_POLL_MS);
    const stopPoll = () => {
      if (poll !== undefined) this.stack.clock.clearTimeout(poll);
      poll = undefined;
    };
    // wait without reading (no buffer allocated per wake-up); the bytes are read into the pool
    this.stack.bsd.recvReadyAsync(fd, { signal }).then(
      () => {
        stopPoll();
        this.#reading = false;
        if (this.destroyed) return;
        this.#readLoop();
      },
      (e: unknown) => {
        stopPoll();
        this.#reading = false;
        if (this.destroyed) return;
        if (e === REARM) { this.#readLoop(); return; }
        if (isBadf(e)) { this.destroy(); return; } // the stack was closed under us
        this.destroy(fromBsd(this.stack, e, 'read'));
      },
    );
  }

  /**
   * Read what the stack holds for this socket, synchronously (tryRecvInto into the pool), pushing each
   * chunk. Returns true when nothing is left and the caller should wait (EAGAIN); false when reading
   * stops here: end of stream, an error (the socket is destroyed), or the stream wants no more now.
   */
  #readSync(): boolean {
    const bsd = this.stack.bsd;
    const again = -bsd.errno('EAGAIN');
    this.#inReadSync = true;
    try {
      for (;;) {
        if (this.destroyed || this.#fd < 0) return false;
        let pool = this.#pool;
        if (pool === undefined || pool.length - this.#poolOff < READ_POOL_MIN) {
          // uninitialised (Node): every byte handed out is one just read into it
          pool = this.#pool = Buffer.allocUnsafe(READ_POOL);
          this.#poolOff = 0;
        }
        const off = this.#poolOff;
        const n = bsd.tryRecvInto(this.#fd, pool, off, Math.min(READ_CHUNK, pool.length - off));
        if (n === again) return true;
        if (n === 0) {
          this.#eof = true;
          this.push(null);
          return false;
        }
        if (n < 0) {
          const code = bsd.errnoName(n) ?? 'EIO';
          if (code === 'EBADF') this.destroy(); // the stack was closed under us
          else this.destroy(netError(this.stack, 'read', code));
          return false;
        }
        // the next chunk starts 8-aligned, so that typed-array views of a chunk can be aligned
        this.#poolOff = (off + n + 7) & ~7;
        this.bytesRead += n;
        this.#touch();
        const more = this.push(Buffer.from(pool.buffer, pool.byteOffset + off, n));
        this.#wantRead = more;
        if (!more) return false;
      }
    } finally {
      this.#inReadSync = false;
    }
  }

  // --- writing -----------------------------------------------------------------------------------

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.connecting) {
      this.#pendingConnect.push(() => this._write(chunk, _enc, cb));
      return;
    }
    if (this.#fd < 0) {
      cb(Object.assign(new Error('This socket is closed'), { code: 'ERR_SOCKET_CLOSED' }));
      return;
    }
    const data = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    this.stack.bsd.sendAsync(this.#fd, data).then(
      (n) => {
        this.#bytesWritten += n;
        this.#touch();
        cb();
      },
      (e: unknown) => cb(fromBsd(this.stack, e, 'write')),
    );
  }

  /**
   * Several chunks at once (what a corked stream hands over: Node's http corks the head and the
   * body of a message): one send, so that with TCP_NODELAY they still leave as one segment rather
   * than one small segment each.
   */
  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], cb: (err?: Error | null) => void): void {
    if (chunks.length === 1) { this._write(chunks[0]!.chunk, chunks[0]!.encoding, cb); return; }
    this._write(Buffer.concat(chunks.map((c) => c.chunk)), chunks[0]!.encoding, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.connecting) {
      this.#pendingConnect.push(() => this._final(cb));
      return;
    }
    if (this.#fd < 0) { cb(); return; }
    try {
      this.stack.bsd.shutdown(this.#fd, 'SHUT_WR');
      this.#shutWr = true;
      this.#readAbort?.abort(REARM); // re-arm a pending read with the FIN poll (see #readLoop)
    } catch (e) {
      // already reset or closed by the peer: nothing left to shut down
      if (!(e instanceof SocketError && (e.code === 'ENOTCONN' || e.code === 'EBADF'))) { cb(fromBsd(this.stack, e, 'shutdown')); return; }
    }
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.#clearTimer();
    this.connecting = false;
    this.#pendingConnect = [];
    if (this.#fd >= 0) {
      const fd = this.#fd;
      this.#fd = -1;
      try { if (!this.stack.closed) this.stack.bsd.close(fd); } catch { /* already gone */ }
    }
    cb(err);
    defer(() => this.emit('close', err != null));
  }

  /** end() and destroy once everything is written (what Node's http server calls). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Close with a RST (SO_LINGER 0), as Node's resetAndDestroy. */
  resetAndDestroy(): this {
    if (this.#fd >= 0) {
      try { this.stack.bsd.setsockopt(this.#fd, 'SOL_SOCKET', 'SO_LINGER', 0); } catch { /* ignore */ }
    }
    return this.destroy();
  }

  // --- options -----------------------------------------------------------------------------------

  setNoDelay(noDelay = true): this {
    this.#noDelay = noDelay;
    this.#applyOptions();
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.#keepAlive = { enable, delay: initialDelay };
    this.#applyOptions();
    return this;
  }

  /** Emit 'timeout' after `ms` of inactivity (0 disables); the socket is not closed. */
  setTimeout(ms: number, cb?: () => void): this {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw Object.assign(new RangeError(`The value of "msecs" is out of range. Received ${String(ms)}`), { code: 'ERR_OUT_OF_RANGE' });
    }
    this.#timeoutMs = ms;
    if (cb) {
      if (ms === 0) this.removeListener('timeout', cb);
      else this.once('timeout', cb);
    }
    this.#touch();
    return this;
  }

  get timeout(): number | undefined {
    return this.#timeoutMs || undefined;
  }

  #touch(): void {
    this.#clearTimer();
    if (this.#timeoutMs > 0 && !this.destroyed && !this.stack.closed) {
      this.#timer = this.stack.clock.setTimeout(() => {
        this.#timer = undefined;
        if (!this.destroyed) this.emit('timeout');
      }, this.#timeoutMs);
    }
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      this.stack.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  address(): AddressInfo | Record<string, never> {
    if (this.localAddress === undefined) return {};
    return { address: this.localAddress, family: 'IPv4', port: this.localPort ?? 0 };
  }

  get localFamily(): 'IPv4' {
    return 'IPv4';
  }

  ref(): this { return this; }
  unref(): this { return this; }
}

export interface ServerOptions {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export interface ListenOptions {
  port?: number | string;
  host?: string;
  backlog?: number;
}

/** A listening TCP socket of a Stack, as Node's net.Server. */
export class Server extends EventEmitter {
  readonly stack: Stack;
  /** refuse (close at once) connections beyond this many */
  maxConnections: number | undefined;
  #opts: ServerOptions;
  #fd = -1;
  #address: AddressInfo | undefined;
  #connections = new Set<Socket>();
  #closing = false;
  #closeCallbacks: ((err?: Error) => void)[] = [];

  constructor(stack: Stack, opts: ServerOptions = {}, listener?: (socket: Socket) => void) {
    super();
    this.stack = stack;
    this.#opts = opts;
    if (listener) this.on('connection', listener);
  }

  get listening(): boolean {
    return this.#fd >= 0;
  }

  /** listen(port?, host?, backlog?, cb?) or listen({ port, host, backlog }, cb?) */
  listen(port?: number | string, host?: string, backlog?: number, cb?: () => void): this;
  listen(port: number | string, host: string, cb?: () => void): this;
  listen(port: number | string, cb?: () => void): this;
  listen(opts: ListenOptions, cb?: () => void): this;
  listen(cb?: () => void): this;
  listen(...args: unknown[]): this {
    const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
    let o: ListenOptions;
    if (typeof args[0] === 'object' && args[0] !== null) o = args[0] as ListenOptions;
    else o = { port: args[0] as number | undefined, host: typeof args[1] === 'string' ? args[1] : undefined, backlog: typeof args[1] === 'number' ? args[1] : args[2] as number | undefined };
    if (this.#fd >= 0) throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
    const port = o.port === undefined || o.port === null ? 0 : Number(o.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw Object.assign(new RangeError(`options.port should be >= 0 and < 65536. Received ${String(o.port)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    const host = o.host ?? '0.0.0.0';
    if (typeof host !== 'string') throw invalidArgType('options.host', 'string', host);
    const backlog = o.backlog ?? 511;
    if (typeof backlog !== 'number') throw invalidArgType('backlog', 'number', backlog);
    if (!Number.isInteger(backlog) || backlog < -(2 ** 31) || backlog >= 2 ** 31) {
      throw Object.assign(new RangeError(`The value of "backlog" is out of range. It must be a 32-bit integer. Received ${String(backlog)}`), { code: 'ERR_OUT_OF_RANGE' });
    }
    if (cb) this.once('listening', cb);
    if (!isIPv4(host)) {
      // no resolver in the stack: only IPv4 literals; fail as Node's failed lookup does (asynchronously)
      const e = new Error(`getaddrinfo ENOTFOUND ${host}`) as NetError;
      e.code = 'ENOTFOUND';
      e.syscall = 'getaddrinfo';
      e.hostname = host;
      defer(() => this.emit('error', e));
      return this;
    }
    const bsd = this.stack.bsd;
    let fd = -1;
    try {
      fd = bsd.socket('AF_INET', 'SOCK_STREAM');
      bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1); // as libuv does for every TCP listener
      if (this.#opts.noDelay) bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_NODELAY', 1);
      bsd.bind(fd, { address: host, port });
      bsd.listen(fd, backlog);
    } catch (e) {
      if (fd >= 0) try { bsd.close(fd); } catch { /* ignore */ }
      const err = fromBsd(this.stack, e, 'listen', host, port);
      defer(() => this.emit('error', err));
      return this;
    }
    this.#fd = fd;
    this.#closing = false;
    const a = bsd.getsockname(fd);
    this.#address = { address: a.address, family: 'IPv4', port: a.port };
    defer(() => {
      if (this.#fd !== fd) return;
      this.emit('listening');
      this.#acceptLoop(fd);
    });
    return this;
  }

  #acceptLoop(fd: number): void {
    const bsd = this.stack.bsd;
    bsd.acceptAsync(fd).then(
      (r) => {
        if (this.#fd !== fd) { try { bsd.close(r.fd); } catch { /* ignore */ } return; }
        if (this.maxConnections !== undefined && this.#connections.size >= this.maxConnections) {
          try { bsd.close(r.fd); } catch { /* ignore */ }
          this.emit('drop', { localAddress: this.#address?.address, localPort: this.#address?.port, remoteAddress: r.address, remotePort: r.port, remoteFamily: 'IPv4' });
        } else {
          this.#adopt(r.fd);
        }
        this.#acceptLoop(fd);
      },
      (e: unknown) => {
        if (this.#fd !== fd) return; // closed
        if (e instanceof SocketError && (e.code === 'ECONNABORTED' || e.code === 'EMFILE' || e.code === 'ENFILE')) {
          if (e.code !== 'ECONNABORTED') this.emit('error', fromBsd(this.stack, e, 'accept'));
          this.#acceptLoop(fd);
          return;
        }
        if (isBadf(e)) return; // the stack closed
        this.emit('error', fromBsd(this.stack, e, 'accept'));
      },
    );
  }

  #adopt(fd: number): void {
    const s = new Socket(this.stack, { fd, allowHalfOpen: this.#opts.allowHalfOpen });
    s.server = this;
    if (this.#opts.noDelay) s.setNoDelay(true);
    if (this.#opts.keepAlive) s.setKeepAlive(true, this.#opts.keepAliveInitialDelay ?? 0);
    this.#connections.add(s);
    s.once('close', () => {
      this.#connections.delete(s);
      this.#maybeClosed();
    });
    if (this.#opts.pauseOnConnect) s.pause();
    else s.read(0); // start reading as Node does (up to the high-water mark)
    this.emit('connection', s);
  }

  /** Stop accepting; 'close' (and cb) once every accepted connection has ended. */
  close(cb?: (err?: Error) => void): this {
    if (this.#fd < 0) {
      const err = Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' });
      if (cb) defer(() => cb(err));
      return this;
    }
    if (cb) this.#closeCallbacks.push(cb);
    const fd = this.#fd;
    this.#fd = -1;
    this.#closing = true;
    try { if (!this.stack.closed) this.stack.bsd.close(fd); } catch { /* ignore */ }
    this.#maybeClosed();
    return this;
  }

  #maybeClosed(): void {
    if (!this.#closing || this.#connections.size > 0) return;
    this.#closing = false;
    const cbs = this.#closeCallbacks.splice(0);
    defer(() => {
      for (const f of cbs) f();
      this.emit('close');
    });
  }

  /** Node's address(): { address, family, port } while listening, else null. */
  address(): AddressInfo | null {
    return this.#fd >= 0 && this.#address ? { ...this.#address } : null;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.#connections.size;
    defer(() => cb(null, n));
    return this;
  }

  /** Destroy every accepted connection (as Node 19's closeAllConnections on an http server). */
  closeAllConnections(): void {
    for (const s of [...this.#connections]) s.destroy();
  }

  ref(): this { return this; }
  unref(): this { return this; }
}

/** The `net` module of one stack. */
export class StackNet {
  constructor(readonly stack: Stack) {}

  createServer(listener?: (socket: Socket) => void): Server;
  createServer(opts: ServerOptions, listener?: (socket: Socket) => void): Server;
  createServer(a?: ServerOptions | ((socket: Socket) => void), b?: (socket: Socket) => void): Server {
    if (typeof a === 'function') return new Server(this.stack, {}, a);
    return new Server(this.stack, a ?? {}, b);
  }

  connect(opts: ConnectOptions & SocketOptions, cb?: () => void): Socket;
  connect(port: number | string, host?: string, cb?: () => void): Socket;
  connect(port: number | string, cb?: () => void): Socket;
  connect(a: number | string | (ConnectOptions & SocketOptions), b?: string | (() => void), c?: () => void): Socket {
    if (typeof a === 'object' && a !== null) {
      const s = new Socket(this.stack, { allowHalfOpen: a.allowHalfOpen, readableHighWaterMark: a.readableHighWaterMark, writableHighWaterMark: a.writableHighWaterMark });
      return s.connect(a, typeof b === 'function' ? b : c);
    }
    const s = new Socket(this.stack);
    if (typeof b === 'function') return s.connect(a, b);
    return s.connect(a, b, c);
  }

  createConnection(opts: ConnectOptions & SocketOptions, cb?: () => void): Socket;
  createConnection(port: number | string, host?: string, cb?: () => void): Socket;
  createConnection(a: number | string | (ConnectOptions & SocketOptions), b?: string | (() => void), c?: () => void): Socket {
    return (this.connect as (a: unknown, b: unknown, c: unknown) => Socket)(a, b, c);
  }

  /** A Socket not yet connected (new net.Socket()). */
  socket(opts: SocketOptions = {}): Socket {
    return new Socket(this.stack, opts);
  }

  isIP(s: string): 0 | 4 { return isIPv4(s) ? 4 : 0; }
  isIPv4(s: string): boolean { return isIPv4(s); }
  isIPv6(_s: string): boolean { return false; }
}

const nets = new WeakMap<Stack, StackNet>();

/** The `net` module of `stack` (one per stack, created on first use). */
export function netFor(stack: Stack): StackNet {
  let n = nets.get(stack);
  if (!n) {
    n = new StackNet(stack);
    nets.set(stack, n);
  }
  return n;
}

declare module './stack.js' {
  interface Stack {
    /** Node's `net` API on this stack (installed by importing 'wtcp/net'). */
    readonly net: StackNet;
  }
}

if (!Object.getOwnPropertyDescriptor(Stack.prototype, 'net')) {
  Object.defineProperty(Stack.prototype, 'net', {
    configurable: true,
    get(this: Stack) { return netFor(this); },
  });
}
