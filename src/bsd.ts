/**
 * The BSD socket layer: socket / bind / listen / accept / close / getsockname / getpeername / recv /
 * setsockopt / getsockopt over the WebAssembly core, failing with the errno names of the man pages
 * exactly where the personality does.
 *
 * Owned here: the per-stack descriptor table (0, 1, 2 are stdin/stdout/stderr, not sockets; sockets
 * take the lowest free number from 3 like a fresh process), socket state, the bind-conflict rules
 * and autobind of each family (the core checks neither), backlog clamping, socket options, and
 * turning the core's readiness events into resolved promises.
 *
 * Each rule is one small function named after the kernel function it reproduces, citing its section
 * of /work/shared/listen-behaviour.md ("spec"). Who calls this: users through `stack.bsd`;
 * src/stack.ts feeds it the core's events (onCoreEvent) and closes it (closeAll).
 *
 * Known, documented differences from the kernels:
 * - The core reports connections (accepted children, TIME-WAIT) per local port only (portUsage),
 *   not per local address; bind-conflict checks treat them as overlapping every address, and as
 *   having SO_REUSEPORT only when a live listener on the port has it (children inherit it).
 * - 4.3BSD's autobind loops forever when ports 1024..5000 are all taken; here it fails with
 *   EADDRINUSE after one full cycle.
 * - FreeBSD stops randomising autobind ports above net.inet.ip.portrange.randomcps allocations per
 *   second; here it always randomises.
 * - UDP sockets exist for the errno rules only: they bind but never receive.
 * - The process is privileged (root): binding ports below 1024 never fails with EACCES.
 */

import { formatIPv4, isIPv4, isMulticast, parseIPv4, subnetBroadcast } from './addr.js';
import {
  ConnField, ConnOpt, ConnState, ListenerFlag, ListenerOpt, PortUsage, type Core, type HostRandom,
} from './core.js';
import {
  errnoFamilyOf, errnoName, errnoNameFromLinux, errnoNumber, SocketError, type ErrnoFamily, type ErrnoName,
} from './errno.js';
import type { FamilyName, Sysctls } from './sysctl.js';
import { CcAlgo } from './core-abi.js';

export { SocketError } from './errno.js';
export type { ErrnoName } from './errno.js';

/** A socket address: dotted-quad IPv4 and port. */
export interface SockAddr {
  address: string;
  port: number;
}

/** accept()'s result: the new descriptor and the peer's address. */
export interface AcceptResult extends SockAddr {
  fd: number;
}

export type SocketDomain = 'AF_INET' | 'AF_INET6' | 'AF_UNIX' | 'AF_LOCAL' | 'AF_PACKET' | 'AF_NETLINK' | (string & {});
export type SocketType = 'SOCK_STREAM' | 'SOCK_DGRAM' | 'SOCK_RAW' | 'SOCK_SEQPACKET' | 'SOCK_RDM' | (string & {});
export type SocketProtocol = 0 | 6 | 17 | 'IPPROTO_TCP' | 'IPPROTO_UDP' | 'IPPROTO_IP' | number | (string & {});
export type SockOptLevel = 'SOL_SOCKET' | 'IPPROTO_TCP' | 'SOL_TCP' | 'IPPROTO_IP' | (string & {});
export type SockOptName =
  | 'SO_REUSEADDR' | 'SO_REUSEPORT' | 'SO_ACCEPTFILTER' | 'SO_ACCEPTCONN' | 'SO_TYPE' | 'SO_ERROR'
  | 'TCP_DEFER_ACCEPT' | 'TCP_SYNCNT' | 'TCP_NODELAY' | 'TCP_CONGESTION' | (string & {});

/** FreeBSD's struct accept_filter_arg: af_name[16], af_arg[240]. */
export interface AcceptFilterArg {
  name: string;
  arg?: string;
}

/** What an option value may be: an int (booleans count as 0/1), an accept filter, or null (remove it). */
export type SockOptValue = number | boolean | string | AcceptFilterArg | null;

/** What the socket layer needs from its stack. */
export interface BsdHost {
  readonly core: Core;
  readonly sysctl: Sysctls;
  readonly family: FamilyName;
  readonly random: HostRandom;
  /** the stack's interface addresses (host order) and prefix lengths */
  readonly interfaces: readonly { ip: number; prefixLen: number; gateway?: number }[];
  /** drain output and events and re-arm the timer after a core call that may have produced them */
  service(): void;
  /**
   * bring the core's clock to now (running what is due) before a call that arms timers: the core
   * only learns the time from input()/poll(), and a deadline from a stale clock would fire early
   */
  sync(): void;
  /** true once the stack is closed */
  readonly closed: boolean;
}

export interface BsdOptions {
  /** highest number of open descriptors, stdin/stdout/stderr included (RLIMIT_NOFILE); default 1024 */
  maxFds?: number;
}

type SockState = 'unbound' | 'bound' | 'listening' | 'connecting' | 'connected';
type Proto = 'tcp' | 'udp';

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
  detach(): void;
}

interface RecvWaiter extends Waiter<Uint8Array> {
  /** bytes to read; -1: recvReadyAsync(), which only waits and reads nothing */
  max: number;
}

const NO_BYTES = new Uint8Array(0);

/** One socket. Addresses are host-order u32. */
interface Sock {
  readonly fd: number;
  /** creation order (netstat lists newest first) */
  readonly seq: number;
  readonly proto: Proto;
  state: SockState;
  laddr: number;
  lport: number;
  reuseAddr: boolean;
  reusePort: boolean;
  noDelay: boolean;
  /** core listener index while listening, else -1 */
  listener: number;
  /** effective backlog of the last listen() */
  backlog: number;
  /** core connection handle of an accepted socket, -1 once gone */
  conn: number;
  raddr: number;
  rport: number;
  /** an error taken from the core that the next recv() must report */
  pendingError: ErrnoName | undefined;
  /** TCP_DEFER_ACCEPT in retransmission periods (Linux) */
  deferAccept: number;
  /** TCP_SYNCNT (Linux), 0 = sysctl default */
  synCnt: number;
  /** SO_ACCEPTFILTER (FreeBSD) */
  acceptFilter: AcceptFilterArg | undefined;
  /** 4.3BSD listen() on a connected socket: the TCB says LISTEN while the PCB stays connected (spec 4.1) */
  corrupted: boolean;
  acceptWaiters: Waiter<AcceptResult>[];
  recvWaiters: RecvWaiter[];
  /** connectAsync() calls waiting for the handshake */
  connectWaiters: Waiter<void>[];
  /** sendAsync() calls waiting for send-buffer space, in order */
  sendWaiters: SendWaiter[];
  /** SO_SNDBUF / SO_RCVBUF as set (bytes as the kernel stores them), 0 = the default */
  sndBuf: number;
  rcvBuf: number;
  /** SO_KEEPALIVE, TCP_KEEPIDLE / TCP_KEEPINTVL (s) / TCP_KEEPCNT; 0 = the family's default */
  keepAlive: boolean;
  /** SO_LINGER seconds, -1 = off; 0 makes close() abortive (RST) */
  linger: number;
  keepIdle: number;
  keepIntvl: number;
  keepCnt: number;
  /** TCP_CONGESTION as set on this socket (or inherited from the listener); undefined = the stack's default */
  congestion?: string;
}

interface SendWaiter extends Waiter<number> {
  data: Uint8Array;
  done: number;
}

type FdEntry = { kind: 'file'; name: string } | { kind: 'socket'; sock: Sock };

/** TCP_CONGESTION names per family and the core's algorithm numbers (CcAlgo). */
const CC_NAMES: Partial<Record<string, Readonly<Record<string, number>>>> = {
  linux: { reno: CcAlgo.Reno, cubic: CcAlgo.Cubic },
  freebsd: { newreno: CcAlgo.Reno, cubic: CcAlgo.Cubic },
};

// errno values the core returns (assembly/abi.ts, Linux numbering)
const CORE_EAGAIN = -11;
const CORE_ECONNABORTED = -103;

/** getsockopt(SO_TYPE) values, the same on every family. */
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;

/**
 * A promise parked on `list` (a socket's accept, recv, connect or send waiters) until the stack
 * settles it, or until `signal` aborts it: then it leaves the list and rejects with the reason.
 */
function park<T, W extends { detach: () => void }>(
  list: W[],
  signal: AbortSignal | undefined,
  make: (resolve: (v: T) => void, reject: (e: unknown) => void, detach: () => void) => W,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      const i = list.indexOf(w);
      if (i >= 0) list.splice(i, 1);
      reject(signal?.reason);
    };
    const w = make(resolve, reject, () => signal?.removeEventListener('abort', onAbort));
    signal?.addEventListener('abort', onAbort, { once: true });
    list.push(w);
  });
}

/** Linux MAX_TCP_SYNCNT */
const LINUX_MAX_TCP_SYNCNT = 127;
/** Linux TCP_TIMEOUT_INIT and TCP_RTO_MAX, in seconds (secs_to_retrans arguments) */
const TCP_TIMEOUT_INIT_S = 1;
const TCP_RTO_MAX_S = 120;

/** FreeBSD <sys/socket.h> option bits, which BSD getsockopt returns as `so_options & name`. */
const BSD_SO_ACCEPTCONN = 0x0002;
const BSD_SO_REUSEADDR = 0x0004;
const BSD_SO_KEEPALIVE = 0x0008;
const BSD_SO_REUSEPORT = 0x0200;

/** The accept filters FreeBSD ships (accf_data, accf_http, accf_dns) and the core's codes for them. */
const ACCEPT_FILTERS: Record<string, number> = { dataready: 1, httpready: 2, dnsready: 3 };

// ------------------------------------------------------------------------------------------------
// Pure rules (exported for tests)
// ------------------------------------------------------------------------------------------------

/**
 * secs_to_retrans(seconds, TCP_TIMEOUT_INIT/HZ, TCP_RTO_MAX/HZ) (net/ipv4/tcp.c), spec 2.11:
 * how many SYN-ACK retransmission periods a TCP_DEFER_ACCEPT of `seconds` covers (5 s ⇒ 3).
 */
export function secsToRetrans(seconds: number, timeout = TCP_TIMEOUT_INIT_S, rtoMax = TCP_RTO_MAX_S): number {
  let res = 0;
  if (seconds > 0) {
    let period = timeout;
    let t = timeout;
    res = 1;
    while (seconds > period && res < 255) {
      res++;
      t <<= 1;
      if (t > rtoMax) t = rtoMax;
      period += t;
    }
  }
  return res;
}

/** retrans_to_secs (net/ipv4/tcp.c): the seconds getsockopt(TCP_DEFER_ACCEPT) reports (3 ⇒ 7). */
export function retransToSecs(retrans: number, timeout = TCP_TIMEOUT_INIT_S, rtoMax = TCP_RTO_MAX_S): number {
  let period = 0;
  if (retrans > 0) {
    let t = timeout;
    period = timeout;
    let r = retrans;
    while (--r) {
      t <<= 1;
      if (t > rtoMax) t = rtoMax;
      period += t;
    }
  }
  return period;
}

/** Two local addresses overlap if equal or either is the wildcard (inet_rcv_saddr_equal with match_wildcard). */
function addrsOverlap(a: number, b: number): boolean {
  return a === 0 || b === 0 || a === b;
}

// ------------------------------------------------------------------------------------------------
// The socket layer
// ------------------------------------------------------------------------------------------------

export class BsdSockets {
  readonly #host: BsdHost;
  readonly #ef: ErrnoFamily;
  readonly #maxFds: number;
  readonly #fds = new Map<number, FdEntry>();
  /** descriptors freed below #nextFd, ascending */
  #freeFds: number[] = [];
  #nextFd = 3;
  #seq = 0;
  readonly #byListener = new Map<number, Sock>();
  readonly #byConn = new Map<number, Sock>();
  /** 4.3BSD in_pcbbind's head->inp_lport, one per protocol (spec 4.6) */
  readonly #bsd43LastPort: Record<Proto, number> = { tcp: 0, udp: 0 };
  /** FreeBSD pcbinfo->ipi_lastport, one per protocol (used when randomisation is off) */
  readonly #fbLastPort: Record<Proto, number> = { tcp: 0, udp: 0 };

  constructor(host: BsdHost, opts: BsdOptions = {}) {
    this.#host = host;
    this.#ef = errnoFamilyOf(host.family);
    const maxFds = opts.maxFds ?? 1024;
    if (!Number.isInteger(maxFds) || maxFds < 4) throw new RangeError(`maxFds must be an integer >= 4, got ${maxFds}`);
    this.#maxFds = maxFds;
    this.#fds.set(0, { kind: 'file', name: 'stdin' });
    this.#fds.set(1, { kind: 'file', name: 'stdout' });
    this.#fds.set(2, { kind: 'file', name: 'stderr' });
  }

  // ==============================================================================================
  // socket(2)
  // ==============================================================================================

  /**
   * socket(domain, type, protocol). AF_INET SOCK_STREAM (TCP) and SOCK_DGRAM (UDP) exist; other
   * domains fail with EAFNOSUPPORT, other types and protocols as each family's socreate() does.
   */
  socket(domain: SocketDomain, type: SocketType, protocol: SocketProtocol = 0): number {
    this.#alive('socket');
    if (typeof domain !== 'string') throw new TypeError(`socket: domain must be a string such as 'AF_INET', got ${typeof domain}`);
    if (typeof type !== 'string') throw new TypeError(`socket: type must be a string such as 'SOCK_STREAM', got ${typeof type}`);
    const proto = this.#protocolNumber(protocol);
    const chosen = this.#socketCreate(domain, type, proto);
    const fd = this.#allocFd('socket');
    const sock: Sock = {
      fd, seq: this.#seq++, proto: chosen, state: 'unbound', laddr: 0, lport: 0,
      reuseAddr: false, reusePort: false, noDelay: false, listener: -1, backlog: 0, conn: -1,
      raddr: 0, rport: 0, pendingError: undefined, deferAccept: 0, synCnt: 0,
      acceptFilter: undefined, corrupted: false, acceptWaiters: [], recvWaiters: [],
      connectWaiters: [], sendWaiters: [], sndBuf: 0, rcvBuf: 0,
      keepAlive: false, linger: -1, keepIdle: 0, keepIntvl: 0, keepCnt: 0,
    };
    this.#fds.set(fd, { kind: 'socket', sock });
    return fd;
  }

  #protocolNumber(p: SocketProtocol): number {
    if (typeof p === 'number') {
      if (!Number.isInteger(p)) throw new TypeError(`socket: protocol must be an integer or a name such as 'IPPROTO_TCP', got ${p}`);
      return p;
    }
    if (typeof p !== 'string') throw new TypeError(`socket: protocol must be an integer or a name such as 'IPPROTO_TCP', got ${typeof p}`);
    const known: Record<string, number> = { IPPROTO_IP: 0, IPPROTO_ICMP: 1, IPPROTO_TCP: 6, IPPROTO_UDP: 17, IPPROTO_RAW: 255, IPPROTO_SCTP: 132 };
    const n = known[p];
    if (n === undefined) throw new TypeError(`socket: unknown protocol name '${p}'`);
    return n;
  }

  /**
   * Which protocol a (domain, type, protocol) triple names, or the family's error:
   * Linux __sock_create/inet_create: unknown domain EAFNOSUPPORT, type outside SOCK_MAX EINVAL, a
   * type inet has no protocol for ESOCKTNOSUPPORT, a protocol the type lacks EPROTONOSUPPORT;
   * FreeBSD socreate: no such domain EAFNOSUPPORT, protocol 0 with an unknown type EPROTOTYPE, else
   * EPROTONOSUPPORT; 4.3BSD socreate: EPROTONOSUPPORT (also for unknown domains: pffindtype finds no
   * domain), EPROTOTYPE when the protocol's type differs.
   * SOCK_RAW is not offered here (no raw sockets): it fails as an unsupported type.
   */
  #socketCreate(domain: string, type: string, proto: number): Proto {
    const fam = this.#host.family;
    const TYPES = ['SOCK_STREAM', 'SOCK_DGRAM', 'SOCK_RAW', 'SOCK_RDM', 'SOCK_SEQPACKET', 'SOCK_DCCP', 'SOCK_PACKET'];
    const inet = domain === 'AF_INET';
    if (fam === 'linux') {
      if (!inet) throw this.#error('socket', 'EAFNOSUPPORT', `address family ${domain} is not supported (AF_INET only)`);
      if (!TYPES.includes(type)) throw this.#error('socket', 'EINVAL', `unknown socket type ${type}`);
      if (type === 'SOCK_STREAM') {
        if (proto === 0 || proto === 6) return 'tcp';
        throw this.#error('socket', 'EPROTONOSUPPORT', `protocol ${proto} is not supported for SOCK_STREAM`);
      }
      if (type === 'SOCK_DGRAM') {
        if (proto === 0 || proto === 17) return 'udp';
        throw this.#error('socket', 'EPROTONOSUPPORT', `protocol ${proto} is not supported for SOCK_DGRAM`);
      }
      throw this.#error('socket', 'ESOCKTNOSUPPORT', `socket type ${type} is not supported by AF_INET here`);
    }
    if (fam === 'freebsd') {
      if (!inet) throw this.#error('socket', 'EAFNOSUPPORT', `address family ${domain} is not supported (AF_INET only)`);
      if (type === 'SOCK_STREAM' && (proto === 0 || proto === 6)) return 'tcp';
      if (type === 'SOCK_DGRAM' && (proto === 0 || proto === 17)) return 'udp';
      if (proto === 0) throw this.#error('socket', 'EPROTOTYPE', `no protocol of type ${type} in AF_INET here`);
      throw this.#error('socket', 'EPROTONOSUPPORT', `protocol ${proto} is not supported for ${type}`);
    }
    // 4.3BSD
    if (inet && type === 'SOCK_STREAM' && (proto === 0 || proto === 6)) return 'tcp';
    if (inet && type === 'SOCK_DGRAM' && (proto === 0 || proto === 17)) return 'udp';
    if (inet && (proto === 6 || proto === 17)) throw this.#error('socket', 'EPROTOTYPE', `protocol ${proto} is not of type ${type}`);
    throw this.#error('socket', 'EPROTONOSUPPORT', inet ? `no protocol for ${type}` : `no domain ${domain}`);
  }

  // ==============================================================================================
  // bind(2)
  // ==============================================================================================

  /** bind(fd, { address, port }): port 0 picks an ephemeral port at once. */
  bind(fd: number, addr: SockAddr): 0 {
    this.#alive('bind');
    const sock = this.#socket('bind', fd);
    const { laddr, port } = this.#sockAddrArg('bind', addr);
    const fam = this.#host.family;
    if (fam === 'linux') {
      // inet_bind: address check first, then "already bound", then get_port
      this.#checkBindAddress('bind', laddr, addr);
      this.#checkNotBound('bind', sock);
    } else {
      // in_pcbbind: (4.3BSD: no interface at all ⇒ EADDRNOTAVAIL,) "already bound" (EINVAL), then
      // the address check
      this.#inIfaddrCheck('bind');
      this.#checkNotBound('bind', sock);
      this.#checkBindAddress('bind', laddr, addr);
    }
    let chosen = port;
    if (port === 0) {
      chosen = this.#autobind('bind', sock, laddr);
    } else if (this.#bindConflict(sock, laddr, port)) {
      throw this.#error('bind', 'EADDRINUSE', 'Address already in use', { address: formatIPv4(laddr), port });
    }
    sock.laddr = laddr;
    sock.lport = chosen;
    sock.state = 'bound';
    return 0;
  }

  /** 4.3BSD in_pcbbind starts with `if (in_ifaddr == 0) return (EADDRNOTAVAIL)`: no interface, no binding. */
  #inIfaddrCheck(syscall: string): void {
    if (this.#host.family === 'bsd43' && this.#host.interfaces.length === 0) {
      throw this.#error(syscall, 'EADDRNOTAVAIL', 'the stack has no interface address');
    }
  }

  /** bind on a bound socket: Linux inet_bind "sk_state != TCP_CLOSE || inet_num" ⇒ EINVAL; BSD in_pcbbind ⇒ EINVAL. */
  #checkNotBound(syscall: string, sock: Sock): void {
    if (sock.lport !== 0 || sock.state === 'listening' || sock.state === 'connected') {
      throw this.#error(syscall, 'EINVAL', 'the socket is already bound');
    }
  }

  /**
   * The address must be one of the stack's (or the wildcard): Linux inet_bind (RTN_LOCAL, multicast
   * and broadcast allowed) ⇒ EADDRNOTAVAIL; BSD ifa_ifwithaddr (interface or broadcast address,
   * multicast allowed) ⇒ EADDRNOTAVAIL. There is no loopback interface.
   */
  #checkBindAddress(syscall: string, laddr: number, addr: SockAddr): void {
    if (laddr === 0 || this.#isLocalAddress(laddr)) return;
    if (isMulticast(laddr)) return;
    if (this.#host.interfaces.some((i) => i.prefixLen < 31 && subnetBroadcast(i.ip, i.prefixLen) === laddr)) return;
    if (this.#host.family === 'linux' && laddr === 0xffffffff) return;
    throw this.#error(syscall, 'EADDRNOTAVAIL', `${addr.address} is not an address of this stack`, { address: addr.address, port: addr.port });
  }

  #isLocalAddress(a: number): boolean {
    return this.#host.interfaces.some((i) => i.ip === a);
  }

  /** Does binding `sock` to (laddr, port) conflict, by the family's rule? */
  #bindConflict(sock: Sock, laddr: number, port: number): boolean {
    switch (this.#host.family) {
      case 'linux': return this.#inetBindConflict(sock, laddr, port);
      case 'freebsd': return this.#inPcbbindSetupConflict(sock, laddr, port);
      case 'bsd43': return this.#inPcbbindConflict(sock, laddr, port);
    }
  }

  /** Other sockets of the same protocol bound to `port` (not connections: those are the core's). */
  *#boundOn(sock: Sock, port: number): Generator<Sock> {
    for (const e of this.#fds.values()) {
      if (e.kind !== 'socket') continue;
      const s = e.sock;
      if (s === sock || s.proto !== sock.proto || s.lport !== port) continue;
      if (s.state === 'connected' && !s.corrupted) continue; // accepted children: reported by portUsage
      yield s;
    }
  }

  /** What connections (children, TIME-WAIT) the core holds on `port` (TCP only). */
  #portUsage(sock: Sock, port: number): number {
    if (sock.proto !== 'tcp') return 0;
    const u = this.#host.core.x.portUsage(port);
    return u < 0 ? 0 : u;
  }

  /** Connections inherit SO_REUSEPORT from their listener: assume they have it if a live listener on the port does. */
  #connsReusePort(sock: Sock, port: number): boolean {
    for (const s of this.#boundOn(sock, port)) if (s.state === 'listening' && s.reusePort) return true;
    return false;
  }

  /**
   * Linux inet_csk_bind_conflict(relax = true, reuseport_ok = true), spec 2.10: two sockets on one
   * port with overlapping addresses conflict unless (a) both have SO_REUSEADDR and the existing one
   * is not listening, or (b) both have SO_REUSEPORT (same uid: always, one process here). listen()
   * runs it again (inet_csk_get_port from inet_csk_listen_start) with the socket already listening.
   */
  #inetBindConflict(sock: Sock, laddr: number, port: number): boolean {
    for (const e of this.#boundOn(sock, port)) {
      if (!addrsOverlap(laddr, e.laddr)) continue;
      const reuseOk = sock.reuseAddr && e.reuseAddr && e.state !== 'listening';
      const reusePortOk = sock.reusePort && e.reusePort;
      if (!reuseOk && !reusePortOk) return true;
    }
    // connections (never in LISTEN): tw/children keep the SO_REUSEADDR of their socket
    const u = this.#portUsage(sock, port);
    if (u & PortUsage.Any) {
      if (sock.reusePort && this.#connsReusePort(sock, port)) return false;
      if (u & (PortUsage.TimeWaitNoReuse | PortUsage.ConnNoReuse)) return true;
      if (u & (PortUsage.TimeWaitReuse | PortUsage.ConnReuse) && !sock.reuseAddr) return true;
    }
    return false;
  }

  /**
   * FreeBSD in_pcbbind_setup, spec 3.10: without SO_REUSEADDR/SO_REUSEPORT the lookup is wildcard
   * (any PCB on the port with an overlapping address, connected ones included); with either, only an
   * unconnected PCB with exactly this address is found. A found PCB (or TIME-WAIT) conflicts unless
   * both sides have SO_REUSEPORT.
   */
  #inPcbbindSetupConflict(sock: Sock, laddr: number, port: number): boolean {
    const wild = !(sock.reuseAddr || sock.reusePort);
    for (const e of this.#boundOn(sock, port)) {
      const found = wild ? addrsOverlap(laddr, e.laddr) : e.laddr === laddr;
      if (found && !(sock.reusePort && e.reusePort)) return true;
    }
    if (wild && this.#portUsage(sock, port) & PortUsage.Any) return true;
    return false;
  }

  /**
   * 4.3BSD in_pcbbind, spec 4.6: without SO_REUSEADDR the lookup is wildcard — any PCB on the port
   * with an overlapping address (listening, bound, connected, TIME-WAIT) ⇒ EADDRINUSE; with it only
   * an unconnected PCB with exactly this address conflicts. SO_REUSEPORT does not exist.
   */
  #inPcbbindConflict(sock: Sock, laddr: number, port: number): boolean {
    const wild = !sock.reuseAddr;
    for (const e of this.#boundOn(sock, port)) {
      if (wild ? addrsOverlap(laddr, e.laddr) : e.laddr === laddr) return true;
    }
    if (wild && this.#portUsage(sock, port) & PortUsage.Any) return true;
    return false;
  }

  /** Pick an ephemeral port for bind(port 0) or listen() on an unbound socket, by the family's rule. */
  #autobind(syscall: string, sock: Sock, laddr: number): number {
    switch (this.#host.family) {
      case 'linux': return this.#inetCskFindOpenPort(syscall, sock, laddr);
      case 'freebsd': return this.#inPcbLport(syscall, sock, laddr);
      case 'bsd43': return this.#inPcbbindAutobind(syscall, sock, laddr);
    }
  }

  /**
   * Linux inet_csk_find_open_port, spec 2.10: over net.ipv4.ip_local_port_range, random start, odd
   * offsets from the range start first (bind/listen; connect() prefers even), then the other parity;
   * with SO_REUSEADDR the lower half of the range first, then the upper half. A port is taken if any
   * socket with an overlapping address holds it (inet_csk_bind_conflict with relax = false:
   * SO_REUSEADDR does not share here). None free ⇒ EADDRINUSE.
   */
  #inetCskFindOpenPort(syscall: string, sock: Sock, laddr: number): number {
    const { first, last } = this.#host.sysctl.ephemeralPortRange();
    const low = first;
    const high = last + 1;
    let attemptHalf = sock.reuseAddr ? 1 : 0;
    const taken = (port: number): boolean => {
      for (const e of this.#boundOn(sock, port)) if (addrsOverlap(laddr, e.laddr)) return true;
      return (this.#portUsage(sock, port) & PortUsage.Any) !== 0;
    };
    for (;;) {
      let lo = low;
      let hi = high;
      if (attemptHalf) {
        const half = low + ((high - low) >> 1);
        if (attemptHalf === 1) hi = half;
        else lo = half;
      }
      let remaining = hi - lo;
      if (remaining > 1) remaining &= ~1;
      if (remaining > 0) {
        let offset = this.#host.random.below(remaining);
        offset |= 1;
        for (;;) {
          let port = lo + offset;
          for (let i = 0; i < remaining; i += 2, port += 2) {
            if (port >= hi) port -= remaining;
            if (port < 1 || port > 65535) continue;
            if (!taken(port)) return port;
          }
          offset--;
          if (!(offset & 1)) continue; // other_parity_scan
          break;
        }
      }
      if (attemptHalf === 1) {
        attemptHalf = 2; // try the upper half
        continue;
      }
      break;
    }
    throw this.#error(
      syscall, 'EADDRINUSE',
      `all ports in the ephemeral range ${first}-${last} (net.ipv4.ip_local_port_range) are in use`,
    );
  }

  /**
   * FreeBSD in_pcb_lport, spec 3.1: start at a random point of net.inet.ip.portrange.first..last
   * (`lastport = first + arc4random() % (last - first)`), step up by one wrapping to `first`, try
   * every port once; a port is taken if in_pcblookup_local finds a PCB (wildcard lookup unless the
   * socket has SO_REUSEADDR/SO_REUSEPORT). None free ⇒ EADDRNOTAVAIL.
   */
  #inPcbLport(syscall: string, sock: Sock, laddr: number): number {
    const { first, last } = this.#host.sysctl.ephemeralPortRange();
    const wild = !(sock.reuseAddr || sock.reusePort);
    const taken = (port: number): boolean => {
      for (const e of this.#boundOn(sock, port)) if (wild ? addrsOverlap(laddr, e.laddr) : e.laddr === laddr) return true;
      return wild && (this.#portUsage(sock, port) & PortUsage.Any) !== 0;
    };
    let lastport = this.#fbLastPort[sock.proto];
    if (first !== last) lastport = first + this.#host.random.below(last - first);
    let count = last - first;
    for (;;) {
      if (count-- < 0) {
        this.#fbLastPort[sock.proto] = lastport;
        throw this.#error(
          syscall, 'EADDRNOTAVAIL',
          `all ports ${first}-${last} (net.inet.ip.portrange.first/last) are in use`,
        );
      }
      ++lastport;
      if (lastport < first || lastport > last) lastport = first;
      if (!taken(lastport)) {
        this.#fbLastPort[sock.proto] = lastport;
        return lastport;
      }
    }
  }

  /**
   * 4.3BSD in_pcbbind with lport 0, spec 4.6: `if (head->inp_lport++ < IPPORT_RESERVED ||
   * head->inp_lport > IPPORT_USERRESERVED) head->inp_lport = IPPORT_RESERVED;` — sequential from 1024,
   * wrapping after 5000, one counter per protocol; a port is taken only by an unconnected PCB with
   * exactly this local address (the lookup is not wildcard). The real kernel loops forever when
   * every port is taken; this fails with EADDRINUSE after one full cycle instead.
   */
  #inPcbbindAutobind(syscall: string, sock: Sock, laddr: number): number {
    this.#inIfaddrCheck(syscall);
    const { first: reserved, last: userReserved } = this.#host.sysctl.ephemeralPortRange();
    const taken = (port: number): boolean => {
      for (const e of this.#boundOn(sock, port)) if (e.laddr === laddr) return true;
      return false;
    };
    const span = userReserved - reserved + 1;
    for (let tries = 0; tries <= span; tries++) {
      let p = this.#bsd43LastPort[sock.proto];
      const before = p;
      p = before + 1;
      if (before < reserved || p > userReserved) p = reserved;
      this.#bsd43LastPort[sock.proto] = p;
      if (!taken(p)) return p;
    }
    throw this.#error(
      syscall, 'EADDRINUSE',
      `all ports ${reserved}-${userReserved} are in use (4.3BSD's in_pcbbind would loop forever here)`,
    );
  }

  // ==============================================================================================
  // listen(2)
  // ==============================================================================================

  /**
   * listen(fd, backlog). Errors per family (spec 2.1, 3.1, 4.1): EBADF, ENOTSOCK, EOPNOTSUPP for
   * UDP, EINVAL on a connected socket (Linux, FreeBSD; 4.3BSD returns 0 and the socket is left
   * corrupted), EADDRINUSE / EADDRNOTAVAIL from autobind, Linux's EADDRINUSE "Another socket is
   * already listening on the same port". A second listen() only changes the backlog.
   */
  listen(fd: number, backlog: number): 0 {
    this.#alive('listen');
    if (typeof backlog !== 'number' || !Number.isInteger(backlog)) {
      throw new TypeError(`listen: backlog must be an integer, got ${typeof backlog === 'number' ? backlog : typeof backlog}`);
    }
    if (backlog < -0x80000000 || backlog > 0x7fffffff) throw new RangeError(`listen: backlog must fit a C int, got ${backlog}`);
    const sock = this.#socket('listen', fd);
    // Linux __sys_listen and FreeBSD solisten_proto read the cap now; later sysctl changes do not
    // touch an existing listener until it calls listen() again (spec 2.2)
    const b = this.#effectiveBacklog(backlog);
    this.#listenNotSupported(sock);
    if (sock.state === 'connected' || sock.state === 'connecting') {
      this.#listenOnConnected(sock, b);
      return 0;
    }
    if (sock.state === 'listening') {
      this.#relisten(sock, b);
      return 0;
    }
    if (sock.lport === 0) {
      sock.lport = this.#autobind('listen', sock, sock.laddr);
    } else if (this.#host.family === 'linux' && this.#inetCskListenStartConflict(sock)) {
      throw this.#error('listen', 'EADDRINUSE', 'Another socket is already listening on the same port', {
        address: formatIPv4(sock.laddr), port: sock.lport,
      });
    }
    this.#openListener(sock, b);
    return 0;
  }

  /** The family's effective backlog (spec 2.2, 3.2, 4.2), read from the sysctls at this moment. */
  #effectiveBacklog(backlog: number): number {
    return this.#host.sysctl.effectiveBacklog(backlog);
  }

  /** UDP: Linux sock_no_listen, FreeBSD pru_listen_notsupp, 4.3BSD udp_usrreq ⇒ EOPNOTSUPP (spec S03). */
  #listenNotSupported(sock: Sock): void {
    if (sock.proto !== 'tcp') {
      throw this.#error('listen', 'EOPNOTSUPP', 'operation not supported on a SOCK_DGRAM socket');
    }
  }

  /**
   * listen() on a connected socket (spec S04): Linux inet_listen `sock->state != SS_UNCONNECTED` and
   * FreeBSD solisten_proto_check ⇒ EINVAL; 4.3BSD tcp_usrreq PRU_LISTEN has no check: it returns 0
   * and the TCB says LISTEN while the PCB stays connected. The emulator records the corruption
   * (accept() then finds an empty queue forever) and leaves the connection alone.
   */
  #listenOnConnected(sock: Sock, b: number): void {
    if (this.#host.family !== 'bsd43') {
      throw this.#error('listen', 'EINVAL', 'the socket is already connected');
    }
    sock.corrupted = true;
    sock.backlog = b;
  }

  /** Relisten (spec 2.1.3, 3.2, 4.1): only the backlog changes; queued connections stay. */
  #relisten(sock: Sock, b: number): void {
    sock.backlog = b;
    this.#host.core.x.listenerSetBacklog(sock.listener, b);
    this.#host.service();
  }

  /**
   * Linux inet_csk_listen_start → inet_csk_get_port(sk, inet_num), spec 2.10: the bind-conflict
   * check again, now with this socket in LISTEN; this is where the second of two SO_REUSEADDR
   * sockets bound to one port fails.
   */
  #inetCskListenStartConflict(sock: Sock): boolean {
    return this.#inetBindConflict(sock, sock.laddr, sock.lport);
  }

  #openListener(sock: Sock, b: number): void {
    const core = this.#host.core;
    const flags = (sock.reusePort ? ListenerFlag.ReusePort : 0) | (sock.reuseAddr ? ListenerFlag.ReuseAddr : 0);
    const l = core.x.listenerOpen(sock.laddr, sock.lport, b, flags);
    if (l < 0) {
      const name = errnoNameFromLinux(l) ?? 'ENOBUFS';
      throw this.#error('listen', name, `the stack has no listener slot left (limits.listeners): ${name}`);
    }
    sock.listener = l;
    sock.backlog = b;
    sock.state = 'listening';
    this.#byListener.set(l, sock);
    if (this.#host.family === 'linux') {
      if (sock.deferAccept) core.x.listenerSet(l, ListenerOpt.DeferAccept, sock.deferAccept);
      if (sock.synCnt) core.x.listenerSet(l, ListenerOpt.SynCnt, sock.synCnt);
    }
    this.#host.service();
  }

  // ==============================================================================================
  // accept(2)
  // ==============================================================================================

  /**
   * Non-blocking accept(fd): the oldest completed connection as a new descriptor, or EAGAIN when
   * none is queued. EINVAL on a socket that is not listening (Linux: EOPNOTSUPP for UDP),
   * ECONNABORTED for a FreeBSD connection that died in the queue (it is gone; call again).
   */
  accept(fd: number): AcceptResult {
    this.#alive('accept');
    const sock = this.#socket('accept', fd);
    this.#acceptCheck(sock);
    const r = this.#acceptOne(sock);
    if (typeof r === 'string') throw this.#error('accept', r);
    return r;
  }

  /**
   * accept() that waits: resolves when a connection is ready (the core's AcceptReady event).
   * Rejects at once for the errors accept() would throw (except EAGAIN), with ECONNABORTED as
   * FreeBSD's blocking accept() would, with EBADF if the socket is closed meanwhile (or the stack),
   * and with the signal's reason when `signal` aborts.
   */
  acceptAsync(fd: number, opts: { signal?: AbortSignal } = {}): Promise<AcceptResult> {
    try {
      this.#alive('accept');
      const sock = this.#socket('accept', fd);
      this.#acceptCheck(sock);
      const signal = opts.signal;
      if (signal?.aborted) return Promise.reject(signal.reason);
      const r = this.#acceptOne(sock);
      if (typeof r !== 'string') return Promise.resolve(r);
      if (r !== 'EAGAIN') return Promise.reject(this.#error('accept', r));
      return park<AcceptResult, Waiter<AcceptResult>>(sock.acceptWaiters, signal, (resolve, reject, detach) => ({ resolve, reject, detach }));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Which sockets accept() works on: Linux inet_accept (UDP: sock_no_accept ⇒ EOPNOTSUPP; TCP not in
   * LISTEN ⇒ EINVAL); FreeBSD kern_accept4 `!SOLISTENING` ⇒ EINVAL (UDP too); 4.3BSD accept()
   * `(so_options & SO_ACCEPTCONN) == 0` ⇒ EINVAL (a corrupted 4.3BSD socket has SO_ACCEPTCONN).
   */
  #acceptCheck(sock: Sock): void {
    if (sock.proto !== 'tcp' && this.#host.family === 'linux') {
      throw this.#error('accept', 'EOPNOTSUPP', 'operation not supported on a SOCK_DGRAM socket');
    }
    if (sock.state !== 'listening' && !sock.corrupted) {
      throw this.#error('accept', 'EINVAL', 'the socket is not listening');
    }
  }

  /** One accept attempt: the result, or the errno name. */
  #acceptOne(sock: Sock): AcceptResult | ErrnoName {
    if (sock.corrupted) return 'EAGAIN'; // 4.3BSD: its queue never fills
    if (this.#fds.size >= this.#maxFds) return 'EMFILE'; // the fd is allocated before dequeuing
    const core = this.#host.core;
    const c = core.x.listenerAccept(sock.listener);
    if (c === CORE_EAGAIN) return 'EAGAIN';
    if (c === CORE_ECONNABORTED) {
      this.#host.service();
      return 'ECONNABORTED';
    }
    if (c < 0) return errnoNameFromLinux(c) ?? 'EINVAL';
    const child = this.#adoptConnection(sock, c);
    this.#host.service();
    return { fd: child.fd, address: formatIPv4(child.raddr), port: child.rport };
  }

  /** A descriptor for an accepted core connection; it inherits the listener's socket options. */
  #adoptConnection(parent: Sock, c: number): Sock {
    const x = this.#host.core.x;
    const fd = this.#allocFd('accept');
    const child: Sock = {
      fd, seq: this.#seq++, proto: 'tcp', state: 'connected',
      laddr: x.connGet(c, ConnField.LocalAddr) >>> 0, lport: x.connGet(c, ConnField.LocalPort),
      reuseAddr: parent.reuseAddr, reusePort: parent.reusePort, noDelay: parent.noDelay,
      listener: -1, backlog: 0, conn: c,
      raddr: x.connGet(c, ConnField.RemoteAddr) >>> 0, rport: x.connGet(c, ConnField.RemotePort),
      pendingError: undefined, deferAccept: 0, synCnt: 0, acceptFilter: undefined, corrupted: false,
      acceptWaiters: [], recvWaiters: [], connectWaiters: [], sendWaiters: [],
      sndBuf: parent.sndBuf, rcvBuf: parent.rcvBuf,
      keepAlive: parent.keepAlive, linger: parent.linger, keepIdle: parent.keepIdle, keepIntvl: parent.keepIntvl, keepCnt: parent.keepCnt,
      ...(parent.congestion !== undefined ? { congestion: parent.congestion } : {}),
    };
    this.#fds.set(fd, { kind: 'socket', sock: child });
    // listenerAccept() already made the connection the host's in the core (events flow from now on)
    this.#byConn.set(c, child);
    // options inherited from the listener that the core applies per connection
    if (child.noDelay) x.connSetOpt(c, ConnOpt.NoDelay, 1);
    this.#applyCongestion(child);
    if (child.sndBuf) x.connSetOpt(c, ConnOpt.SndBuf, child.sndBuf);
    if (child.rcvBuf) x.connSetOpt(c, ConnOpt.RcvBuf, this.#host.family === 'linux' ? child.rcvBuf >> 1 : child.rcvBuf);
    this.#applyKeepalive(child);
    return child;
  }

  // ==============================================================================================
  // close(2)
  // ==============================================================================================

  /**
   * close(fd). A listener is closed in the core (which resets queued connections as the family
   * does); a connection closes gracefully (FIN, or RST when unread data is pending on Linux). Waiting
   * acceptAsync/recvAsync promises reject with EBADF. Closing 0, 1 or 2 works like a process's.
   */
  close(fd: number): 0 {
    this.#alive('close');
    this.#fdArg('close', fd);
    const e = this.#fds.get(fd);
    if (!e) throw this.#error('close', 'EBADF');
    this.#releaseFd(fd);
    if (e.kind === 'socket') this.#closeSocket(e.sock, 'close');
    return 0;
  }

  #closeSocket(sock: Sock, why: 'close' | 'stack'): void {
    const core = this.#host.core;
    const detail = why === 'close' ? 'the socket was closed while waiting' : 'the stack was closed while waiting';
    for (const w of sock.acceptWaiters.splice(0)) {
      w.detach();
      w.reject(this.#error('accept', 'EBADF', detail));
    }
    for (const w of sock.recvWaiters.splice(0)) {
      w.detach();
      w.reject(this.#error('recv', 'EBADF', detail));
    }
    for (const w of sock.connectWaiters.splice(0)) {
      w.detach();
      w.reject(this.#error('connect', 'EBADF', detail));
    }
    for (const w of sock.sendWaiters.splice(0)) {
      w.detach();
      w.reject(this.#error('send', 'EBADF', detail));
    }
    if (sock.listener >= 0) {
      this.#byListener.delete(sock.listener);
      if (!core.aborted) core.x.listenerClose(sock.listener);
      sock.listener = -1;
    }
    if (sock.conn >= 0) {
      this.#byConn.delete(sock.conn);
      if (!core.aborted) this.#host.sync();
      // SO_LINGER with a zero timeout: close() aborts with a RST (Linux tcp_close, BSD tcp_disconnect)
      if (!core.aborted) {
        if (sock.linger === 0 && why === 'close') core.x.connAbort(sock.conn);
        else core.x.connClose(sock.conn);
      }
      sock.conn = -1;
    }
    if (!core.aborted) this.#host.service();
  }

  /** Close every descriptor (the stack is closing): sockets as close() would, waiters rejected. */
  closeAll(): void {
    for (const [fd, e] of [...this.#fds]) {
      this.#fds.delete(fd);
      if (e.kind === 'socket') this.#closeSocket(e.sock, 'stack');
    }
    this.#freeFds = [];
  }

  // ==============================================================================================
  // getsockname(2), getpeername(2)
  // ==============================================================================================

  /** The local address; an unbound socket reports 0.0.0.0:0. */
  getsockname(fd: number): SockAddr {
    this.#alive('getsockname');
    const sock = this.#socket('getsockname', fd);
    return { address: formatIPv4(sock.laddr), port: sock.lport };
  }

  /**
   * The peer's address; ENOTCONN unless connected (Linux inet_getname: no peer, or CLOSE state; BSD:
   * SS_ISCONNECTED clear — so also once the connection was reset).
   */
  getpeername(fd: number): SockAddr {
    this.#alive('getpeername');
    const sock = this.#socket('getpeername', fd);
    if (sock.state !== 'connected' || sock.conn < 0) throw this.#error('getpeername', 'ENOTCONN');
    const st = this.#host.core.x.connGet(sock.conn, ConnField.State);
    if (st <= 0) throw this.#error('getpeername', 'ENOTCONN', 'the connection is closed');
    return { address: formatIPv4(sock.raddr), port: sock.rport };
  }

  // ==============================================================================================
  // recv(2)
  // ==============================================================================================

  /**
   * Non-blocking recv(fd, max): up to `max` bytes; an empty array at end of stream (the peer's FIN)
   * or for max 0; EAGAIN when nothing is buffered; ECONNRESET / ETIMEDOUT once for a connection
   * that died (then end of stream); ENOTCONN on a socket that is not connected.
   */
  recv(fd: number, max: number): Uint8Array {
    this.#alive('recv');
    const sock = this.#socket('recv', fd);
    this.#recvMaxArg(max);
    const r = this.#recvOne(sock, max);
    if (typeof r === 'string') throw this.#error('recv', r);
    return r;
  }

  /** recv() that waits for data, end of stream or an error (the core's Readable / ConnError events). */
  recvAsync(fd: number, max: number, opts: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    try {
      this.#alive('recv');
      const sock = this.#socket('recv', fd);
      this.#recvMaxArg(max);
      const signal = opts.signal;
      if (signal?.aborted) return Promise.reject(signal.reason);
      const r = this.#recvOne(sock, max);
      if (typeof r !== 'string') return Promise.resolve(r);
      if (r !== 'EAGAIN' || (sock.state !== 'connected' && sock.state !== 'connecting')) return Promise.reject(this.#error('recv', r));
      return park<Uint8Array, RecvWaiter>(sock.recvWaiters, signal, (resolve, reject, detach) => ({ max, resolve, reject, detach }));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * recv(2) into the caller's buffer, allocating nothing: reads up to `length` bytes (default: the
   * rest of `buf` after `offset`) into `buf` at `offset` and returns how many (> 0, as many as are
   * buffered), or 0 at end of stream (the peer's FIN) or for a length of 0. Fails as recv() does, with
   * a SocketError: EAGAIN when nothing is buffered, ECONNRESET / ETIMEDOUT once for a connection that
   * died (then 0), ENOTCONN on a socket that is not connected. A `buf` that is not a Uint8Array is a
   * TypeError; an offset or length that is not an integer within `buf` is a RangeError.
   */
  recvInto(fd: number, buf: Uint8Array, offset?: number, length?: number): number {
    this.#alive('recv');
    const sock = this.#socket('recv', fd);
    const off = this.#bufOffset('recvInto', buf, offset);
    const len = this.#bufLength('recvInto', buf, off, length);
    const r = this.#recvIntoOne(sock, buf, off, len);
    if (typeof r === 'string') throw this.#error('recv', r);
    return r;
  }

  /**
   * recvInto() that reports errno failures as a negative number instead of throwing: bytes read
   * (> 0), 0 at end of stream, or −errno in this stack's numbering (−11 for EAGAIN on Linux, −35 on
   * the BSDs: compare with `-bsd.errno('EAGAIN')`; `bsd.errnoName(r)` gives the name). Bad arguments
   * still throw (TypeError / RangeError), as does a core that aborted.
   */
  tryRecvInto(fd: number, buf: Uint8Array, offset?: number, length?: number): number {
    const sock = this.#lookup('recv', fd);
    const off = this.#bufOffset('tryRecvInto', buf, offset);
    const len = this.#bufLength('tryRecvInto', buf, off, length);
    if (typeof sock === 'string') return -errnoNumber(this.#ef, sock);
    const r = this.#recvIntoOne(sock, buf, off, len);
    return typeof r === 'string' ? -errnoNumber(this.#ef, r) : r;
  }

  #bufOffset(syscall: string, buf: Uint8Array, offset: number | undefined): number {
    if (!(buf instanceof Uint8Array)) {
      throw new TypeError(`${syscall}: buf must be a Uint8Array, got ${buf === null ? 'null' : typeof buf === 'object' ? (buf as object).constructor?.name ?? 'object' : typeof buf}`);
    }
    if (offset === undefined) return 0;
    if (typeof offset !== 'number') throw new TypeError(`${syscall}: offset must be a number, got ${typeof offset}`);
    if (!Number.isInteger(offset) || offset < 0 || offset > buf.length) {
      throw new RangeError(`${syscall}: offset must be an integer 0..${buf.length} (the buffer's length), got ${offset}`);
    }
    return offset;
  }

  #bufLength(syscall: string, buf: Uint8Array, off: number, length: number | undefined): number {
    if (length === undefined) return buf.length - off;
    if (typeof length !== 'number') throw new TypeError(`${syscall}: length must be a number, got ${typeof length}`);
    if (!Number.isInteger(length) || length < 0 || off + length > buf.length) {
      throw new RangeError(`${syscall}: length must be an integer 0..${buf.length - off} (the room after offset ${off}), got ${length}`);
    }
    return length;
  }

  #recvIntoOne(sock: Sock, buf: Uint8Array, off: number, len: number): number | ErrnoName {
    if (sock.proto === 'udp') return 'EAGAIN';
    if (sock.state === 'connecting') return 'EAGAIN';
    if (sock.state !== 'connected') return 'ENOTCONN';
    if (sock.pendingError) {
      const e = sock.pendingError;
      sock.pendingError = undefined;
      return e;
    }
    if (sock.conn < 0 || len === 0) return 0;
    const r = this.#host.core.readInto(sock.conn, buf, off, len);
    // a read that found nothing changed nothing in the core: no frames, no events to take care of
    if (r === CORE_EAGAIN) return 'EAGAIN';
    this.#host.service();
    if (r >= 0) return r;
    return errnoNameFromLinux(r) ?? 'EIO';
  }

  /** The errno number of `name` in this stack's numbering (what SocketError.errno carries). */
  errno(name: ErrnoName): number {
    return errnoNumber(this.#ef, name);
  }

  /** The errno name of a number in this stack's numbering (a negative try*() result too), or undefined. */
  errnoName(errno: number): ErrnoName | undefined {
    return errnoName(this.#ef, errno);
  }

  /**
   * Waits, reading nothing, until recv() on `fd` would not fail with EAGAIN: data, the end of the
   * stream or an error is waiting for it (poll(2)'s POLLIN for one socket). Resolves at once if that
   * is already so. Rejects as recvAsync() does for a bad descriptor or a closed stack, and with the
   * signal's reason when aborted. Like recvAsync(), it wakes on the core's events for the
   * connection. Lets a reader wait without a buffer, then read with recvInto() where it likes.
   */
  recvReadyAsync(fd: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      this.#alive('recv');
      const sock = this.#socket('recv', fd);
      const signal = opts.signal;
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (this.#recvReady(sock)) return Promise.resolve();
      return park<void, RecvWaiter>(sock.recvWaiters, signal, (resolve, reject, detach) => ({ max: -1, resolve: () => resolve(), reject, detach }));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Whether recv() would answer anything but EAGAIN now, without reading. */
  #recvReady(sock: Sock): boolean {
    if (sock.proto === 'udp' || sock.state === 'connecting') return false;
    if (sock.state !== 'connected' || sock.pendingError || sock.conn < 0) return true;
    const x = this.#host.core.x;
    const c = sock.conn;
    if (x.connGet(c, ConnField.Readable) !== 0) return true; // bytes, or -1: the record is gone
    return x.connGet(c, ConnField.Eof) !== 0 || x.connGet(c, ConnField.Error) !== 0 || x.connGet(c, ConnField.State) === ConnState.Closed;
  }

  #recvMaxArg(max: number): void {
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 0) {
      throw new RangeError(`recv: max must be an integer >= 0, got ${String(max)}`);
    }
  }

  #recvOne(sock: Sock, max: number): Uint8Array | ErrnoName {
    if (sock.proto === 'udp') return 'EAGAIN'; // no UDP data path: nothing ever arrives
    if (sock.state === 'connecting') return 'EAGAIN'; // tcp_recvmsg waits for the handshake
    if (sock.state !== 'connected') return 'ENOTCONN'; // tcp_recvmsg: LISTEN or never connected
    if (sock.pendingError) {
      const e = sock.pendingError;
      sock.pendingError = undefined;
      return e;
    }
    if (sock.conn < 0) return new Uint8Array(0);
    if (max === 0) return new Uint8Array(0);
    const r = this.#host.core.read(sock.conn, max);
    this.#host.service();
    if (typeof r !== 'number') return r;
    if (r === CORE_EAGAIN) return 'EAGAIN';
    return errnoNameFromLinux(r) ?? 'EIO';
  }

  // ==============================================================================================
  // connect(2), send(2), shutdown(2)
  // ==============================================================================================

  /**
   * Non-blocking connect(fd, { address, port }): starts the handshake and throws EINPROGRESS, as a
   * non-blocking socket's connect() does; poll with getsockopt(SO_ERROR) / send, or use
   * connectAsync(). EALREADY while connecting, EISCONN once connected; a listening socket gives
   * EISCONN on Linux (inet_stream_connect: sk_state != TCP_CLOSE) and EOPNOTSUPP on the BSDs
   * (soconnect: SO_ACCEPTCONN). An unbound socket is bound to an ephemeral port first.
   */
  connect(fd: number, addr: SockAddr): never {
    this.#alive('connect');
    const sock = this.#socket('connect', fd);
    this.#connectStart(sock, addr);
    throw this.#error('connect', 'EINPROGRESS', 'the connection is being established');
  }

  /** connect() that waits: resolves once ESTABLISHED, rejects with ECONNREFUSED, ETIMEDOUT, ... */
  connectAsync(fd: number, addr: SockAddr, opts: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      this.#alive('connect');
      const sock = this.#socket('connect', fd);
      const signal = opts.signal;
      if (signal?.aborted) return Promise.reject(signal.reason);
      this.#connectStart(sock, addr);
      const p = park<void, Waiter<void>>(sock.connectWaiters, signal, (resolve, reject, detach) => ({ resolve, reject, detach }));
      this.#connectProgress(sock);
      return p;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Destinations a connect() cannot reach fail at once, as in the OS, instead of SYNs retransmitted
   * into nowhere until the connect timeout: Linux tcp_v4_connect refuses a broadcast or multicast
   * route (-ENETUNREACH); FreeBSD tcp_usr_connect refuses a multicast address (EAFNOSUPPORT); with no
   * route at all (off every subnet, no gateway) ip_route_connect / in_pcbladdr / 4.3BSD's ip_output
   * answer ENETUNREACH.
   */
  #connectReachable(addr: SockAddr, raddr: number): void {
    const ifs = this.#host.interfaces;
    const fam = this.#host.family;
    const where = { address: addr.address, port: addr.port };
    const onLink = (i: { ip: number; prefixLen: number }) => i.prefixLen === 0 || ((i.ip ^ raddr) >>> (32 - i.prefixLen)) === 0;
    const multicast = raddr >>> 28 === 14;
    const broadcast = raddr === 0xffffffff || ifs.some((i) => {
      if (i.prefixLen === 0 || i.prefixLen >= 31 || !onLink(i)) return false;
      const host = 0xffffffff >>> i.prefixLen;
      return ((raddr & host) >>> 0) === host;
    });
    if (fam === 'linux' && (multicast || broadcast)) throw this.#error('connect', 'ENETUNREACH', `${addr.address} is a ${multicast ? 'multicast' : 'broadcast'} address`, where);
    if (fam === 'freebsd' && multicast) throw this.#error('connect', 'EAFNOSUPPORT', `${addr.address} is a multicast address`, where);
    if (!ifs.some(onLink) && !ifs.some((i) => (i.gateway ?? 0) !== 0)) {
      throw this.#error('connect', 'ENETUNREACH', `no route to ${addr.address}: no interface on its network and no gateway`, where);
    }
  }

  #connectStart(sock: Sock, addr: SockAddr): void {
    const fam = this.#host.family;
    if (sock.proto !== 'tcp') throw this.#error('connect', 'EOPNOTSUPP', 'UDP has no data path in this stack');
    if (sock.state === 'listening' || sock.corrupted) {
      if (fam === 'linux') throw this.#error('connect', 'EISCONN', 'the socket is listening');
      throw this.#error('connect', 'EOPNOTSUPP', 'the socket is listening');
    }
    if (sock.state === 'connecting') throw this.#error('connect', 'EALREADY');
    if (sock.state === 'connected') throw this.#error('connect', 'EISCONN');
    const { laddr: raddr, port: rport } = this.#sockAddrArg('connect', addr);
    if (raddr === 0 || rport === 0) throw this.#error('connect', 'EADDRNOTAVAIL', 'cannot connect to address 0 or port 0', { address: addr.address, port: addr.port });
    const ifs = this.#host.interfaces;
    if (ifs.length === 0) throw this.#error('connect', 'ENETUNREACH', 'the stack has no interface');
    this.#connectReachable(addr, raddr);
    // the route: the interface whose subnet holds the peer, else interface 0 (its gateway)
    let iface = ifs.findIndex((i) => i.prefixLen > 0 && ((i.ip ^ raddr) >>> (32 - i.prefixLen)) === 0);
    if (iface < 0) iface = 0;
    if (sock.laddr !== 0) {
      const j = ifs.findIndex((i) => i.ip === sock.laddr);
      if (j >= 0) iface = j;
    }
    const laddr = sock.laddr !== 0 ? sock.laddr : (ifs[iface] as { ip: number }).ip;
    // autobind: Linux __inet_hash_connect (ports of the range start's parity first, the opposite
    // of bind's choice); the BSDs use their bind rule (in_pcbconnect -> in_pcbbind). Linux's sharing
    // of one port by connections to different destinations is not modelled: a free port is taken.
    if (sock.lport === 0) {
      sock.lport = fam === 'linux' ? this.#inetHashConnectPort(sock) : this.#autobind('connect', sock, sock.laddr);
      if (sock.state === 'unbound') sock.state = 'bound';
    }
    const flags = (sock.reuseAddr ? 1 : 0) | (sock.reusePort ? 2 : 0);
    const core = this.#host.core;
    this.#host.sync();
    const c = core.x.connConnect(iface, laddr, sock.lport, raddr, rport, flags);
    if (c < 0) {
      const name = errnoNameFromLinux(c) ?? 'ENOBUFS';
      throw this.#error('connect', name, undefined, { address: addr.address, port: rport });
    }
    sock.conn = c;
    // the source address is fixed by connect() (Linux inet_sk(sk)->inet_saddr, BSD inp_laddr):
    // getsockname() reports it from now on
    sock.laddr = laddr;
    sock.raddr = raddr;
    sock.rport = rport;
    sock.state = 'connecting';
    sock.pendingError = undefined;
    this.#byConn.set(c, sock);
    if (sock.noDelay) core.x.connSetOpt(c, ConnOpt.NoDelay, 1);
    if (fam === 'linux' && sock.synCnt) core.x.connSetOpt(c, ConnOpt.SynCnt, sock.synCnt); // icsk_syn_retries
    this.#applyCongestion(sock);
    if (sock.sndBuf) core.x.connSetOpt(c, ConnOpt.SndBuf, sock.sndBuf);
    if (sock.rcvBuf) core.x.connSetOpt(c, ConnOpt.RcvBuf, this.#host.family === 'linux' ? sock.rcvBuf >> 1 : sock.rcvBuf);
    this.#applyKeepalive(sock);
    this.#host.service();
  }

  /** Hand the socket's keepalive settings to its core connection. */
  #applyKeepalive(sock: Sock): void {
    if (sock.conn < 0) return;
    this.#host.sync();
    const x = this.#host.core.x;
    if (sock.keepIdle) x.connSetOpt(sock.conn, ConnOpt.KeepIdle, sock.keepIdle);
    if (sock.keepIntvl) x.connSetOpt(sock.conn, ConnOpt.KeepIntvl, sock.keepIntvl);
    if (sock.keepCnt) x.connSetOpt(sock.conn, ConnOpt.KeepCnt, sock.keepCnt);
    x.connSetOpt(sock.conn, ConnOpt.KeepAlive, sock.keepAlive ? 1 : 0);
  }

  /** Linux __inet_hash_connect's port choice: random even offset, same parity as the range start first. */
  #inetHashConnectPort(sock: Sock): number {
    const { first, last } = this.#host.sysctl.ephemeralPortRange();
    const low = first;
    const high = last + 1;
    let remaining = high - low;
    if (remaining > 1) remaining &= ~1;
    const taken = (port: number): boolean => {
      for (const e of this.#boundOn(sock, port)) if (addrsOverlap(sock.laddr, e.laddr)) return true;
      return (this.#portUsage(sock, port) & PortUsage.Any) !== 0;
    };
    let offset = remaining > 0 ? this.#host.random.below(remaining) & ~1 : 0;
    for (let pass = 0; pass < 2; pass++, offset++) {
      let port = low + offset;
      for (let i = 0; i < remaining; i += 2, port += 2) {
        if (port >= high) port -= remaining;
        if (port >= 1 && port <= 65535 && !taken(port)) return port;
      }
      if (remaining <= 1) break;
    }
    throw this.#error('connect', 'EADDRNOTAVAIL', `no free port in the ephemeral range ${first}-${last} (net.ipv4.ip_local_port_range)`);
  }

  /** A connecting socket's handshake finished (ESTABLISHED or later) or failed. */
  #connectProgress(sock: Sock): void {
    if (sock.state !== 'connecting' || sock.conn < 0) return;
    const x = this.#host.core.x;
    const st = x.connGet(sock.conn, ConnField.State);
    if (st === ConnState.SynSent || st === ConnState.SynReceived) return;
    if (st !== ConnState.Closed) {
      sock.state = 'connected';
      for (const w of sock.connectWaiters.splice(0)) { w.detach(); w.resolve(); }
      return;
    }
    // failed: the core's error (ECONNREFUSED, ETIMEDOUT, ...) goes to the waiters or to SO_ERROR
    const code = x.connGet(sock.conn, ConnField.Error);
    const name: ErrnoName = (code > 0 ? errnoNameFromLinux(-code) : undefined) ?? 'ECONNREFUSED';
    this.#byConn.delete(sock.conn);
    x.connClose(sock.conn);
    sock.conn = -1;
    sock.state = 'bound';
    const waiters = sock.connectWaiters.splice(0);
    if (waiters.length === 0) sock.pendingError = name;
    for (const w of waiters) { w.detach(); w.reject(this.#error('connect', name, undefined, { address: formatIPv4(sock.raddr), port: sock.rport })); }
    for (const w of sock.sendWaiters.splice(0)) { w.detach(); w.reject(this.#error('send', name)); }
  }

  /**
   * Non-blocking send(fd, data): how many bytes the send buffer took (at least 1), EAGAIN when it
   * is full or the handshake is still running, EPIPE after shutdown(SHUT_WR) or once the
   * connection is gone, a pending ECONNRESET/ETIMEDOUT once, ENOTCONN when never connected.
   */
  send(fd: number, data: Uint8Array): number {
    this.#alive('send');
    const sock = this.#socket('send', fd);
    if (!(data instanceof Uint8Array)) throw new TypeError('send: data must be a Uint8Array');
    const r = this.#sendSome(sock, data);
    if (typeof r === 'string') throw this.#error('send', r);
    return r;
  }

  /**
   * send() that reports errno failures as a negative number instead of throwing: bytes taken (at
   * least 1; 0 only for empty data), or −errno in this stack's numbering (−EAGAIN when the send
   * buffer is full or the handshake is still running, −EPIPE, ...). `data` that is not a Uint8Array
   * is a TypeError; a core that aborted still throws.
   */
  trySend(fd: number, data: Uint8Array): number {
    const sock = this.#lookup('send', fd);
    if (!(data instanceof Uint8Array)) throw new TypeError('trySend: data must be a Uint8Array');
    if (typeof sock === 'string') return -errnoNumber(this.#ef, sock);
    const r = this.#sendSome(sock, data);
    return typeof r === 'string' ? -errnoNumber(this.#ef, r) : r;
  }

  /** send() that waits until every byte is in the send buffer; resolves with data.length. */
  sendAsync(fd: number, data: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<number> {
    try {
      this.#alive('send');
      const sock = this.#socket('send', fd);
      if (!(data instanceof Uint8Array)) throw new TypeError('send: data must be a Uint8Array');
      const signal = opts.signal;
      if (signal?.aborted) return Promise.reject(signal.reason);
      const p = park<number, SendWaiter>(sock.sendWaiters, signal, (resolve, reject, detach) => ({ data, done: 0, resolve, reject, detach }));
      this.#pumpSend(sock);
      return p;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #sendSome(sock: Sock, data: Uint8Array): number | ErrnoName {
    if (sock.proto !== 'tcp') return 'EOPNOTSUPP';
    if (sock.pendingError) {
      const e = sock.pendingError;
      sock.pendingError = undefined;
      return e;
    }
    if (sock.state === 'connecting') return 'EAGAIN';
    if (sock.state !== 'connected') return 'ENOTCONN';
    if (sock.conn < 0) return 'EPIPE';
    if (data.length === 0) return 0;
    const core = this.#host.core;
    this.#host.sync();
    let done = 0;
    while (done < data.length) {
      const n = core.write(sock.conn, data.subarray(done));
      if (n < 0) {
        if (done > 0) break;
        this.#host.service();
        return errnoNameFromLinux(n) ?? 'EPIPE';
      }
      if (n === 0) break;
      done += n;
    }
    this.#host.service();
    return done > 0 ? done : 'EAGAIN';
  }

  #pumpSend(sock: Sock): void {
    while (sock.sendWaiters.length > 0) {
      const w = sock.sendWaiters[0] as SendWaiter;
      if (w.done < w.data.length) {
        const r = this.#sendSome(sock, w.data.subarray(w.done));
        if (r === 'EAGAIN') return;
        if (typeof r === 'string') {
          sock.sendWaiters.shift();
          w.detach();
          w.reject(this.#error('send', r));
          continue;
        }
        w.done += r;
        if (w.done < w.data.length) return;
      }
      sock.sendWaiters.shift();
      w.detach();
      w.resolve(w.data.length);
    }
  }

  /**
   * shutdown(fd, how): 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR' (or 0, 1, 2). SHUT_WR sends the FIN
   * after the queued data; the other direction keeps working. ENOTCONN unless connected.
   */
  shutdown(fd: number, how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR' | 0 | 1 | 2): 0 {
    this.#alive('shutdown');
    const sock = this.#socket('shutdown', fd);
    const h = how === 'SHUT_RD' ? 0 : how === 'SHUT_WR' ? 1 : how === 'SHUT_RDWR' ? 2 : how;
    if (h !== 0 && h !== 1 && h !== 2) throw this.#error('shutdown', 'EINVAL', `how must be SHUT_RD, SHUT_WR or SHUT_RDWR, got ${String(how)}`);
    if (sock.state !== 'connected' || sock.conn < 0) throw this.#error('shutdown', 'ENOTCONN');
    this.#host.sync();
    const r = this.#host.core.x.connShutdown(sock.conn, h);
    this.#host.service();
    if (r < 0) throw this.#error('shutdown', errnoNameFromLinux(r) ?? 'ENOTCONN');
    if (h !== 1) this.#pumpRecv(sock);
    return 0;
  }

  // ==============================================================================================
  // setsockopt(2), getsockopt(2)
  // ==============================================================================================

  /** setsockopt(fd, level, name, value). Errors per family as each kernel's option code gives them. */
  setsockopt(fd: number, level: SockOptLevel, name: SockOptName, value: SockOptValue): 0 {
    this.#alive('setsockopt');
    const sock = this.#socket('setsockopt', fd);
    this.#optArgs('setsockopt', level, name);
    if (level === 'SOL_SOCKET') this.#solSocketSet(sock, name, value);
    else if ((level === 'IPPROTO_TCP' || level === 'SOL_TCP') && sock.proto === 'tcp') this.#tcpSet(sock, name, value);
    else this.#otherLevel('setsockopt', level);
    return 0;
  }

  /**
   * getsockopt(fd, level, name): an int (Linux: 0/1 for flags; BSD: `so_options & name`, e.g. 4 for
   * SO_REUSEADDR, as the kernels return), or { name, arg } for SO_ACCEPTFILTER.
   */
  getsockopt(fd: number, level: SockOptLevel, name: SockOptName): number | string | AcceptFilterArg {
    this.#alive('getsockopt');
    const sock = this.#socket('getsockopt', fd);
    this.#optArgs('getsockopt', level, name);
    if (level === 'SOL_SOCKET') return this.#solSocketGet(sock, name);
    if ((level === 'IPPROTO_TCP' || level === 'SOL_TCP') && sock.proto === 'tcp') return this.#tcpGet(sock, name);
    return this.#otherLevel('getsockopt', level);
  }

  #optArgs(syscall: string, level: unknown, name: unknown): void {
    if (typeof level !== 'string') throw new TypeError(`${syscall}: level must be a string such as 'SOL_SOCKET', got ${typeof level}`);
    if (typeof name !== 'string') throw new TypeError(`${syscall}: option name must be a string such as 'SO_REUSEADDR', got ${typeof name}`);
    if (level === 'SOL_TCP' && this.#host.family !== 'linux') {
      throw new TypeError(`${syscall}: SOL_TCP is Linux's spelling; use IPPROTO_TCP`);
    }
  }

  /**
   * Levels other than SOL_SOCKET and the protocol's own: Linux ip_setsockopt ⇒ ENOPROTOOPT; FreeBSD
   * and 4.3BSD ip_ctloutput `level != IPPROTO_IP` ⇒ EINVAL, and for IPPROTO_IP no option is
   * implemented here (ENOPROTOOPT on Linux/FreeBSD, EINVAL on 4.3BSD).
   */
  #otherLevel(syscall: string, level: string): never {
    const fam = this.#host.family;
    if (fam === 'linux') throw this.#error(syscall, 'ENOPROTOOPT', `no such option at level ${level}`);
    if (level === 'IPPROTO_IP' && fam === 'freebsd') throw this.#error(syscall, 'ENOPROTOOPT', 'no such IP option');
    throw this.#error(syscall, 'EINVAL', `level ${level} does not apply to this socket`);
  }

  /** An int option's value (booleans are 0/1); anything else is Linux's short optlen / BSD sooptcopyin ⇒ EINVAL. */
  #intValue(syscall: string, value: SockOptValue): number {
    if (typeof value === 'boolean') return value ? 1 : 0;
    // a value no C int can hold is refused rather than wrapped (2 ** 32 would otherwise become 0)
    if (typeof value === 'number' && Number.isFinite(value) && value > -(2 ** 31) - 1 && value < 2 ** 31) return Math.trunc(value) | 0;
    throw this.#error(syscall, 'EINVAL', `the option takes an int (-2147483648..2147483647), got ${typeof value === 'number' ? value : typeof value}`);
  }

  #solSocketSet(sock: Sock, name: string, value: SockOptValue): void {
    const fam = this.#host.family;
    switch (name) {
      case 'SO_REUSEADDR':
        sock.reuseAddr = this.#intValue('setsockopt', value) !== 0;
        return;
      case 'SO_REUSEPORT':
        // 4.3BSD has no SO_REUSEPORT: sosetopt's default ⇒ ENOPROTOOPT (spec 4.6, S21)
        if (fam === 'bsd43') throw this.#error('setsockopt', 'ENOPROTOOPT', 'SO_REUSEPORT does not exist in 4.3BSD');
        sock.reusePort = this.#intValue('setsockopt', value) !== 0;
        return;
      case 'SO_ACCEPTFILTER':
        if (fam !== 'freebsd') throw this.#error('setsockopt', 'ENOPROTOOPT', 'SO_ACCEPTFILTER exists only on FreeBSD');
        this.#acceptFiltSetopt(sock, value);
        return;
      case 'SO_LINGER': {
        // { l_onoff, l_linger } as one number: seconds >= 0 turns it on, -1 (or null) off. A
        // non-blocking close never waits here, so only the zero (abortive) case changes close().
        if (value === null) { sock.linger = -1; return; }
        const v = this.#intValue('setsockopt', value);
        sock.linger = v < 0 ? -1 : v;
        return;
      }
      case 'SO_KEEPALIVE':
        sock.keepAlive = this.#intValue('setsockopt', value) !== 0;
        if (sock.conn >= 0) {
          this.#applyKeepalive(sock);
          this.#host.service();
        }
        return;
      case 'SO_SNDBUF':
      case 'SO_RCVBUF': {
        const v = this.#intValue('setsockopt', value);
        let stored: number;
        if (fam === 'linux') {
          // sock_setsockopt: min(val, [wr]mem_max) * 2, at least SOCK_MIN_SNDBUF 4608 / SOCK_MIN_RCVBUF 2304
          const max = 212992;
          const doubled = Math.min(Math.max(v, 0), max) * 2;
          stored = Math.max(doubled, name === 'SO_SNDBUF' ? 4608 : 2304);
        } else {
          // sbreserve: 0 or more than sb_max (2 MiB) ⇒ ENOBUFS (FreeBSD), EINVAL below 1
          if (v <= 0 || v > 2 * 1024 * 1024) throw this.#error('setsockopt', fam === 'freebsd' ? 'ENOBUFS' : 'EINVAL', `${name} must be 1..2097152`);
          stored = v;
        }
        if (name === 'SO_SNDBUF') sock.sndBuf = stored; else sock.rcvBuf = stored;
        if (sock.conn >= 0) {
          // Linux keeps half of the receive buffer for overhead: the window is built from the rest
          const core = name === 'SO_SNDBUF' ? stored : fam === 'linux' ? stored >> 1 : stored;
          this.#host.core.x.connSetOpt(sock.conn, name === 'SO_SNDBUF' ? ConnOpt.SndBuf : ConnOpt.RcvBuf, core);
          this.#host.service();
        }
        return;
      }
      default:
        // SO_ACCEPTCONN, SO_TYPE, SO_ERROR are read-only; unknown names: sosetopt default ⇒ ENOPROTOOPT
        throw this.#error('setsockopt', 'ENOPROTOOPT', `${name} cannot be set`);
    }
  }

  #solSocketGet(sock: Sock, name: string): number | AcceptFilterArg {
    const fam = this.#host.family;
    const bsd = fam !== 'linux';
    switch (name) {
      case 'SO_REUSEADDR':
        return bsd ? (sock.reuseAddr ? BSD_SO_REUSEADDR : 0) : sock.reuseAddr ? 1 : 0;
      case 'SO_REUSEPORT':
        if (fam === 'bsd43') throw this.#error('getsockopt', 'ENOPROTOOPT', 'SO_REUSEPORT does not exist in 4.3BSD');
        return bsd ? (sock.reusePort ? BSD_SO_REUSEPORT : 0) : sock.reusePort ? 1 : 0;
      case 'SO_ACCEPTCONN': {
        // 4.3BSD's sogetopt has no SO_ACCEPTCONN case (added later by FreeBSD)
        if (fam === 'bsd43') throw this.#error('getsockopt', 'ENOPROTOOPT', 'SO_ACCEPTCONN cannot be read in 4.3BSD');
        const listening = sock.state === 'listening';
        return bsd ? (listening ? BSD_SO_ACCEPTCONN : 0) : listening ? 1 : 0;
      }
      case 'SO_TYPE':
        return sock.proto === 'tcp' ? SOCK_STREAM : SOCK_DGRAM;
      case 'SO_ERROR': {
        const e = sock.pendingError;
        sock.pendingError = undefined;
        return e ? errnoNumber(this.#ef, e) : 0;
      }
      case 'SO_ACCEPTFILTER':
        if (fam !== 'freebsd') throw this.#error('getsockopt', 'ENOPROTOOPT', 'SO_ACCEPTFILTER exists only on FreeBSD');
        return this.#acceptFiltGetopt(sock);
      case 'SO_LINGER':
        return sock.linger;
      case 'SO_KEEPALIVE':
        return bsd ? (sock.keepAlive ? BSD_SO_KEEPALIVE : 0) : sock.keepAlive ? 1 : 0;
      case 'SO_SNDBUF':
        // defaults: Linux tcp_wmem[1] 16384, FreeBSD net.inet.tcp.sendspace 32768, 4.3BSD tcp_sendspace 4096
        return sock.sndBuf || (fam === 'linux' ? 16384 : fam === 'freebsd' ? 32768 : 4096);
      case 'SO_RCVBUF':
        // Linux tcp_rmem[1] 131072, FreeBSD net.inet.tcp.recvspace 65536, 4.3BSD tcp_recvspace 4096
        return sock.rcvBuf || (fam === 'linux' ? 131072 : fam === 'freebsd' ? 65536 : 4096);
      default:
        throw this.#error('getsockopt', 'ENOPROTOOPT', `unknown option ${name}`);
    }
  }

  /**
   * FreeBSD accept_filt_setopt (uipc_accf.c), spec 3.9 / S60, in the kernel's order: a NULL value
   * removes the filter (EINVAL unless listening); otherwise an unknown filter name ⇒ ENOENT (checked
   * before anything else), then not listening or a filter already installed ⇒ EINVAL.
   */
  #acceptFiltSetopt(sock: Sock, value: SockOptValue): void {
    const listening = sock.state === 'listening';
    if (value === null) {
      if (!listening) throw this.#error('setsockopt', 'EINVAL', 'SO_ACCEPTFILTER needs a listening socket');
      if (sock.acceptFilter) {
        sock.acceptFilter = undefined;
        this.#host.core.x.listenerSet(sock.listener, ListenerOpt.AcceptFilter, 0);
        this.#host.service();
      }
      return;
    }
    if (typeof value !== 'object' || typeof (value as AcceptFilterArg).name !== 'string') {
      throw this.#error('setsockopt', 'EINVAL', 'SO_ACCEPTFILTER takes { name, arg? } or null');
    }
    const v = value as AcceptFilterArg;
    if (v.arg !== undefined && typeof v.arg !== 'string') throw this.#error('setsockopt', 'EINVAL', 'the accept filter argument must be a string');
    // af_name[16] and af_arg[240] are NUL-terminated by the kernel: longer strings are cut
    const name = v.name.slice(0, 15);
    const arg = (v.arg ?? '').slice(0, 239);
    const code = ACCEPT_FILTERS[name];
    if (code === undefined) throw this.#error('setsockopt', 'ENOENT', `no accept filter named "${name}"`);
    if (!listening) throw this.#error('setsockopt', 'EINVAL', 'SO_ACCEPTFILTER needs a listening socket');
    if (sock.acceptFilter) throw this.#error('setsockopt', 'EINVAL', `an accept filter ("${sock.acceptFilter.name}") is already installed; remove it first`);
    const r = this.#host.core.x.listenerSet(sock.listener, ListenerOpt.AcceptFilter, code);
    if (r < 0) throw this.#error('setsockopt', 'ENOENT', `the core does not implement the accept filter "${name}"`);
    sock.acceptFilter = { name, arg };
    this.#host.service();
  }

  /** FreeBSD accept_filt_getopt: not listening or no filter ⇒ EINVAL. */
  #acceptFiltGetopt(sock: Sock): AcceptFilterArg {
    if (sock.state !== 'listening') throw this.#error('getsockopt', 'EINVAL', 'SO_ACCEPTFILTER needs a listening socket');
    if (!sock.acceptFilter) throw this.#error('getsockopt', 'EINVAL', 'no accept filter is installed');
    return { name: sock.acceptFilter.name, arg: sock.acceptFilter.arg ?? '' };
  }

  /**
   * IPPROTO_TCP options. Linux: TCP_DEFER_ACCEPT (seconds, stored as retransmission periods, spec
   * 2.11), TCP_SYNCNT (1..127, spec 2.8), TCP_NODELAY; unknown ⇒ ENOPROTOOPT. FreeBSD
   * tcp_default_ctloutput: TCP_NODELAY; unknown ⇒ ENOPROTOOPT. 4.3BSD tcp_ctloutput: TCP_NODELAY;
   * `default: error = EINVAL` (spec S61).
   */
  #tcpSet(sock: Sock, name: string, value: SockOptValue): void {
    const fam = this.#host.family;
    if (name === 'TCP_CONGESTION' && fam !== 'bsd43') {
      this.#congestionSet(sock, value);
      return;
    }
    if (name === 'TCP_NODELAY') {
      sock.noDelay = this.#intValue('setsockopt', value) !== 0;
      if (sock.conn >= 0) {
        this.#host.sync();
        this.#host.core.x.connSetOpt(sock.conn, ConnOpt.NoDelay, sock.noDelay ? 1 : 0);
        this.#host.service();
      }
      return;
    }
    if ((name === 'TCP_KEEPIDLE' || name === 'TCP_KEEPINTVL' || name === 'TCP_KEEPCNT') && fam !== 'bsd43') {
      // Linux: 1..MAX_TCP_KEEPIDLE (32767) s, TCP_KEEPCNT 1..MAX_TCP_KEEPCNT (127), else EINVAL;
      // FreeBSD (9.0+) takes the same names
      const v = this.#intValue('setsockopt', value);
      const max = name === 'TCP_KEEPCNT' ? 127 : 32767;
      if (v < 1 || v > max) throw this.#error('setsockopt', 'EINVAL', `${name} must be 1..${max}`);
      if (name === 'TCP_KEEPIDLE') sock.keepIdle = v;
      else if (name === 'TCP_KEEPINTVL') sock.keepIntvl = v;
      else sock.keepCnt = v;
      if (sock.conn >= 0) {
        this.#applyKeepalive(sock);
        this.#host.service();
      }
      return;
    }
    if (fam === 'linux' && name === 'TCP_DEFER_ACCEPT') {
      sock.deferAccept = secsToRetrans(this.#intValue('setsockopt', value));
      if (sock.listener >= 0) {
        this.#host.core.x.listenerSet(sock.listener, ListenerOpt.DeferAccept, sock.deferAccept);
        this.#host.service();
      }
      return;
    }
    if (fam === 'linux' && name === 'TCP_SYNCNT') {
      const v = this.#intValue('setsockopt', value);
      if (v < 1 || v > LINUX_MAX_TCP_SYNCNT) throw this.#error('setsockopt', 'EINVAL', `TCP_SYNCNT must be 1..${LINUX_MAX_TCP_SYNCNT}`);
      sock.synCnt = v;
      if (sock.listener >= 0) {
        this.#host.core.x.listenerSet(sock.listener, ListenerOpt.SynCnt, v);
        this.#host.service();
      } else if (sock.conn >= 0) this.#host.core.x.connSetOpt(sock.conn, ConnOpt.SynCnt, v); // a connect in progress
      return;
    }
    this.#unknownTcpOption('setsockopt', name);
  }

  #tcpGet(sock: Sock, name: string): number | string {
    const fam = this.#host.family;
    if (name === 'TCP_CONGESTION' && fam !== 'bsd43') return this.#congestionName(sock);
    if (name === 'TCP_NODELAY') return sock.noDelay ? 1 : 0;
    if (name === 'TCP_KEEPIDLE' && fam !== 'bsd43') return sock.keepIdle || 7200;
    if (name === 'TCP_KEEPINTVL' && fam !== 'bsd43') return sock.keepIntvl || 75;
    if (name === 'TCP_KEEPCNT' && fam !== 'bsd43') return sock.keepCnt || (fam === 'linux' ? 9 : 8);
    if (fam === 'linux' && name === 'TCP_DEFER_ACCEPT') return retransToSecs(sock.deferAccept);
    if (fam === 'linux' && name === 'TCP_SYNCNT') return sock.synCnt || Number(this.#host.sysctl.get('net.ipv4.tcp_syn_retries'));
    return this.#unknownTcpOption('getsockopt', name);
  }

  /**
   * TCP_CONGESTION (a name; 4.3BSD has no such option: its tcp_ctloutput answers EINVAL, spec S61).
   * Linux do_tcp_setsockopt copies at most TCP_CA_NAME_MAX - 1 (15) bytes and
   * tcp_set_congestion_control fails with ENOENT for a name it cannot find or load. FreeBSD 12
   * tcp_default_ctloutput searches cc_list and answers EINVAL for an unknown name (ESRCH is what
   * the net.inet.tcp.cc.algorithm sysctl answers). The names are the family's: reno/cubic, newreno/cubic.
   */
  #congestionSet(sock: Sock, value: SockOptValue): void {
    if (typeof value !== 'string') throw this.#error('setsockopt', 'EINVAL', 'TCP_CONGESTION takes an algorithm name');
    const name = value.slice(0, 15);
    const algo = CC_NAMES[this.#host.family]?.[name];
    if (algo === undefined) {
      const code = this.#host.family === 'linux' ? 'ENOENT' : 'EINVAL';
      throw this.#error('setsockopt', code, `no congestion-control algorithm named "${name}" (${Object.keys(CC_NAMES[this.#host.family] ?? {}).join(', ')})`);
    }
    sock.congestion = name;
    if (sock.conn >= 0) {
      this.#applyCongestion(sock);
      this.#host.service();
    }
  }

  /** Hand an explicit TCP_CONGESTION to the socket's core connection (new connections get the default knob). */
  #applyCongestion(sock: Sock): void {
    if (sock.conn < 0 || sock.congestion === undefined) return;
    const algo = CC_NAMES[this.#host.family]?.[sock.congestion];
    if (algo === undefined) return;
    this.#host.sync();
    this.#host.core.x.connSetOpt(sock.conn, ConnOpt.Congestion, algo);
  }

  /** getsockopt(TCP_CONGESTION): the socket's own choice, its connection's, or the current default. */
  #congestionName(sock: Sock): string {
    if (sock.congestion !== undefined) return sock.congestion;
    const names = CC_NAMES[this.#host.family] ?? {};
    if (sock.conn >= 0) {
      const algo = this.#host.core.x.connGetOpt(sock.conn, ConnOpt.Congestion);
      const hit = Object.entries(names).find(([, v]) => v === algo);
      if (hit) return hit[0];
    }
    const sysctl = this.#host.family === 'linux' ? 'net.ipv4.tcp_congestion_control' : 'net.inet.tcp.cc.algorithm';
    return String(this.#host.sysctl.get(sysctl));
  }

  #unknownTcpOption(syscall: string, name: string): never {
    if (this.#host.family === 'bsd43') throw this.#error(syscall, 'EINVAL', `${name} is not a 4.3BSD TCP option`);
    throw this.#error(syscall, 'ENOPROTOOPT', `${name} is not a TCP option of this system`);
  }

  // ==============================================================================================
  // Events from the core (called by src/stack.ts)
  // ==============================================================================================

  /** AcceptReady(listener): hand queued connections to waiting acceptAsync() calls. */
  onAcceptReady(listener: number): void {
    const sock = this.#byListener.get(listener);
    if (sock) this.#pumpAccept(sock);
  }

  /** Readable / ConnError / ConnClosed / Connected / Writable(conn): wake waiting calls. */
  onConnEvent(conn: number): void {
    const sock = this.#byConn.get(conn);
    if (!sock) return;
    if (sock.state === 'connecting') this.#connectProgress(sock);
    this.#pumpRecv(sock);
    this.#pumpSend(sock);
  }

  /** The event ring overflowed: retry every waiter. */
  onEventsLost(): void {
    for (const e of [...this.#fds.values()]) {
      if (e.kind !== 'socket') continue;
      if (e.sock.acceptWaiters.length > 0) this.#pumpAccept(e.sock);
      if (e.sock.state === 'connecting') this.#connectProgress(e.sock);
      if (e.sock.recvWaiters.length > 0) this.#pumpRecv(e.sock);
      if (e.sock.sendWaiters.length > 0) this.#pumpSend(e.sock);
    }
  }

  #pumpAccept(sock: Sock): void {
    while (sock.acceptWaiters.length > 0 && sock.state === 'listening') {
      const r = this.#acceptOne(sock);
      if (r === 'EAGAIN' || r === 'EMFILE') return;
      const w = sock.acceptWaiters.shift() as Waiter<AcceptResult>;
      w.detach();
      if (typeof r === 'string') w.reject(this.#error('accept', r));
      else w.resolve(r);
    }
  }

  #pumpRecv(sock: Sock): void {
    while (sock.recvWaiters.length > 0) {
      const w = sock.recvWaiters[0] as RecvWaiter;
      if (w.max < 0) {
        // recvReadyAsync: wakes, reads nothing
        if (!this.#recvReady(sock)) return;
        sock.recvWaiters.shift();
        w.detach();
        w.resolve(NO_BYTES);
        continue;
      }
      const r = this.#recvOne(sock, w.max);
      if (r === 'EAGAIN') return;
      sock.recvWaiters.shift();
      w.detach();
      if (typeof r === 'string') w.reject(this.#error('recv', r));
      else w.resolve(r);
    }
  }

  // ==============================================================================================
  // Introspection (src/stack.ts: listeners(), ss, netstat)
  // ==============================================================================================

  /** Listening sockets, in descriptor order. */
  listening(): { fd: number; seq: number; laddr: number; lport: number; listener: number; backlog: number }[] {
    const out: { fd: number; seq: number; laddr: number; lport: number; listener: number; backlog: number }[] = [];
    for (const e of this.#fds.values()) {
      if (e.kind === 'socket' && e.sock.state === 'listening') {
        const s = e.sock;
        out.push({ fd: s.fd, seq: s.seq, laddr: s.laddr, lport: s.lport, listener: s.listener, backlog: s.backlog });
      }
    }
    return out.sort((a, b) => a.fd - b.fd);
  }

  /** Number of TCP sockets of any state (FreeBSD netstat prints its header only if there is one). */
  tcpSocketCount(): number {
    let n = 0;
    for (const e of this.#fds.values()) if (e.kind === 'socket' && e.sock.proto === 'tcp') n++;
    return n;
  }

  /** Open descriptors, stdin/stdout/stderr included. */
  get openFds(): number {
    return this.#fds.size;
  }

  /** The core's connection handle of a connected descriptor (for tools and tests: connGet), or -1. */
  connIndex(fd: number): number {
    const e = this.#fds.get(fd);
    return e?.kind === 'socket' ? e.sock.conn : -1;
  }

  /** The core's listener index of a listening descriptor (for tools and tests), or -1. */
  listenerIndex(fd: number): number {
    const e = this.#fds.get(fd);
    return e?.kind === 'socket' ? e.sock.listener : -1;
  }

  // ==============================================================================================
  // Descriptors and helpers
  // ==============================================================================================

  #alive(syscall: string): void {
    if (this.#host.closed) throw this.#error(syscall, 'EBADF', 'the stack is closed');
    const ab = this.#host.core.aborted;
    if (ab) throw ab;
  }

  /** #alive + #socket without throwing for errnos (EBADF, ENOTSOCK); TypeError and core aborts still throw. */
  #lookup(syscall: string, fd: number): Sock | ErrnoName {
    const ab = this.#host.core.aborted;
    if (ab) throw ab;
    this.#fdArg(syscall, fd);
    if (this.#host.closed) return 'EBADF';
    const e = this.#fds.get(fd);
    if (!e) return 'EBADF';
    if (e.kind !== 'socket') return 'ENOTSOCK';
    return e.sock;
  }

  #fdArg(syscall: string, fd: unknown): asserts fd is number {
    if (typeof fd !== 'number' || !Number.isInteger(fd)) {
      throw new TypeError(`${syscall}: fd must be an integer, got ${typeof fd === 'number' ? fd : typeof fd}`);
    }
  }

  /** sockfd_lookup / getsock: unknown descriptor ⇒ EBADF, not a socket ⇒ ENOTSOCK (spec S01, S02). */
  #socket(syscall: string, fd: number): Sock {
    this.#fdArg(syscall, fd);
    const e = this.#fds.get(fd);
    if (!e) throw this.#error(syscall, 'EBADF');
    if (e.kind !== 'socket') throw this.#error(syscall, 'ENOTSOCK', `descriptor ${fd} (${e.name}) is not a socket`);
    return e.sock;
  }

  #sockAddrArg(syscall: string, addr: SockAddr): { laddr: number; port: number } {
    if (addr === null || typeof addr !== 'object') throw new TypeError(`${syscall}: the address must be an object { address, port }`);
    const address = addr.address ?? '0.0.0.0';
    if (!isIPv4(address)) throw new TypeError(`${syscall}: address must be a dotted-quad IPv4 address, got ${JSON.stringify(address)}`);
    const port = addr.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`${syscall}: port must be an integer 0..65535, got ${String(port)}`);
    }
    return { laddr: parseIPv4(address), port };
  }

  /** The lowest free descriptor (POSIX), or EMFILE at the limit. */
  #allocFd(syscall: string): number {
    if (this.#fds.size >= this.#maxFds) throw this.#error(syscall, 'EMFILE', `the descriptor limit (${this.#maxFds}) is reached`);
    let lowest = this.#nextFd;
    for (let i = 0; i < 3; i++) if (!this.#fds.has(i)) { lowest = i; break; }
    if (lowest >= 3 && this.#freeFds.length > 0) lowest = this.#freeFds.shift() as number;
    else if (lowest === this.#nextFd) this.#nextFd++;
    return lowest;
  }

  #releaseFd(fd: number): void {
    this.#fds.delete(fd);
    if (fd < 3) return;
    if (fd === this.#nextFd - 1) {
      this.#nextFd--;
      // pull the high-water mark down over freed numbers
      while (this.#freeFds.length > 0 && this.#freeFds[this.#freeFds.length - 1] === this.#nextFd - 1) {
        this.#freeFds.pop();
        this.#nextFd--;
      }
      return;
    }
    let lo = 0;
    let hi = this.#freeFds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#freeFds[mid] as number) < fd) lo = mid + 1;
      else hi = mid;
    }
    this.#freeFds.splice(lo, 0, fd);
  }

  #error(syscall: string, code: ErrnoName, detail?: string, where?: { address?: string; port?: number }): SocketError {
    if (code !== 'EAGAIN') return new SocketError(this.#ef, syscall, code, detail, where);
    // EAGAIN is the normal answer of a non-blocking call, often thrown in a loop: built without
    // capturing the call stack (V8's Error.stackTraceLimit; elsewhere the property does nothing),
    // which is most of an Error's cost. Same class, code, errno, syscall and message.
    const E = Error as { stackTraceLimit?: number };
    const limit = E.stackTraceLimit;
    if (typeof limit !== 'number') return new SocketError(this.#ef, syscall, code, detail, where);
    E.stackTraceLimit = 0;
    try {
      return new SocketError(this.#ef, syscall, code, detail, where);
    } finally {
      E.stackTraceLimit = limit;
    }
  }
}
