/**
 * The sysctl registry: every tunable of a personality, in its OS's own spelling, with its
 * validation, its default (from src/personalities.ts), whether it may change while the stack runs,
 * and the core knob (src/core-abi.ts KNOBS) it feeds.
 *
 * Who calls it: the host creates one `Sysctls` per stack from a preset plus overrides, hands
 * `knobValues()` to the core at init, subscribes with `onChange()` to push later knob changes
 * (`setKnob(id, value)`), and reads host-side values (somaxconn, port ranges) itself at listen() /
 * autobind time. `sysctl -w` style front ends call `set()`; `sysctl -a` style ones call `list()`.
 *
 * Validation follows each OS's handler where that is sane, and says so in `source`; where wtcp is
 * stricter than the kernel (Linux flags such as tcp_sack accept any int there) the source says that
 * too. Errors carry errno-style codes: ENOENT (no such sysctl), EINVAL (bad value), EPERM (not
 * writable now).
 */

import { CcAlgo, Family, KNOB, KNOBS, type KnobName } from './core-abi.js';
import {
  DEFAULT_PERSONALITY,
  FAMILIES,
  resolvePersonality,
  type DefaultSpec,
  type FamilyName,
  type Personality,
  type SysctlValue,
} from './personalities.js';

export type { FamilyName, Personality, PersonalityName, SysctlValue } from './personalities.js';
export {
  DEFAULT_PERSONALITY,
  FAMILIES,
  PERSONALITY_NAMES,
  PRESETS,
  isPersonalityName,
  resolvePersonality,
} from './personalities.js';

// ------------------------------------------------------------------------------------------------
// Definitions
// ------------------------------------------------------------------------------------------------

/**
 * runtime: `set()` may change it while the stack runs.
 * creation: only at stack creation (FreeBSD loader tunables, wtcp version switches, machine constants).
 * readonly: fixed; neither overrides nor `set()` may change it.
 */
export type SysctlAccess = 'runtime' | 'creation' | 'readonly';

/**
 * int: one integer; bool: 0 or 1; vector: `length` integers ("lo hi", "min default max");
 * string: a name (one of `choices` when given).
 */
export type SysctlKind = 'int' | 'bool' | 'vector' | 'string';

/** What a user may pass: a number, a numeric string as typed to `sysctl -w`, a boolean (bool kind), or a list. */
export type SysctlInput = number | string | boolean | readonly (number | string)[];

export type SysctlOverrides = Readonly<Record<string, SysctlInput>>;

/** Where a sysctl's value goes: a core knob, or the host only (listen() clamp, autobind...). */
export type KnobTarget = KnobName | 'host' | 'pending';

export interface SysctlDefinition {
  readonly name: string;
  readonly family: FamilyName;
  /** One line: what the tunable does. */
  readonly description: string;
  readonly kind: SysctlKind;
  /** Number of integers of a vector sysctl. */
  readonly length?: number;
  /** Inclusive bounds of each integer. */
  readonly min: number;
  readonly max: number;
  /** If present, the only accepted integers. */
  readonly allowed?: readonly number[];
  /** string kind: the accepted names (absent: any string, for read-only ones). */
  readonly choices?: readonly string[];
  /** string kind: the errno for a name not in `choices` (Linux ENOENT, FreeBSD ESRCH); default EINVAL. */
  readonly unknownChoice?: SysctlErrorCode;
  /** Must be a power of two (hash sizes). */
  readonly powerOfTwo?: boolean;
  /** 'clamp': out-of-range integers are silently pulled into min..max (FreeBSD portrange handler). */
  readonly outOfRange?: 'reject' | 'clamp';
  readonly access: SysctlAccess;
  /**
   * The core knob this sysctl sets; 'host' if only the host reads it; 'pending' if the core needs it
   * but core-abi.ts has no knob for it yet (see `pendingKnob`).
   */
  readonly knob: KnobTarget;
  /** Further knobs computed from this sysctl (e.g. the window scale from tcp_rmem's max). */
  readonly derivedKnobs?: readonly KnobName[];
  /** Knob name the core would need, when `knob` is 'pending'. */
  readonly pendingKnob?: string;
  /** Hidden aliases: accepted by get/set/overrides, left out of list(). */
  readonly aliases?: readonly string[];
  readonly unit?: 'ms' | 'bytes' | 'port' | 'entries' | 'per second' | 'seconds';
  /** Where the validation rule comes from, and how wtcp differs from it. */
  readonly source: string;
  /**
   * Cross-checks against other sysctls, run on the candidate value; returns a reason for EINVAL.
   * `value(name)` reads the value another sysctl has (or will have, at creation).
   */
  readonly check?: (candidate: SysctlValue, value: (name: string) => SysctlValue) => string | undefined;
}

const INT_MAX = 2147483647;
const INT_MIN = -2147483648;

type DefInput = Omit<SysctlDefinition, 'family' | 'kind' | 'min' | 'max'> &
  Partial<Pick<SysctlDefinition, 'kind' | 'min' | 'max'>>;

function defs(family: FamilyName, list: readonly DefInput[]): SysctlDefinition[] {
  return list.map((d) => {
    const kind = d.kind ?? 'int';
    const isBool = kind === 'bool';
    return Object.freeze({
      ...d,
      family,
      kind,
      min: d.min ?? (isBool ? 0 : INT_MIN),
      max: d.max ?? (isBool ? 1 : INT_MAX),
    });
  });
}

/** Linux flags: the kernel stores any int (<= 5.12, proc_dointvec) or any 0..255 (>= 5.13, u8). */
const LINUX_FLAG_SOURCE =
  'wtcp accepts 0 or 1. Linux stores any int up to 5.12 (proc_dointvec) and any 0..255 from 5.13 ' +
  '("tcp: convert elligible sysctls to u8", proc_dou8vec_minmax), every non-zero value acting as 1';

function pair(v: SysctlValue): readonly number[] {
  return typeof v === 'number' ? [v] : typeof v === 'string' ? [] : v;
}
function scalar(v: SysctlValue): number {
  return typeof v === 'number' ? v : typeof v === 'string' ? 0 : (v[0] ?? 0);
}
function text(v: SysctlValue): string {
  return typeof v === 'string' ? v : '';
}

const LINUX = defs('linux', [
  {
    name: 'net.core.somaxconn',
    description: "Cap on listen()'s backlog: larger or negative arguments become this value at listen() time.",
    min: 0, max: INT_MAX, access: 'runtime', knob: 'host', unit: 'entries',
    source: 'net/core/sysctl_net_core.c: proc_dointvec_minmax with extra1 = 0 (4.14 onwards)',
  },
  {
    name: 'net.ipv4.tcp_syncookies',
    description: "0: never send syncookies; 1: send them when a listener's SYN queue is full; 2: for every SYN.",
    allowed: [0, 1, 2], min: 0, max: 2, access: 'runtime', knob: 'tcp_syncookies',
    source:
      'wtcp accepts 0, 1, 2. Linux stores any int up to 5.12 and any 0..255 from 5.13; values other ' +
      'than 0 and 2 act as 1',
  },
  {
    name: 'net.ipv4.tcp_abort_on_overflow',
    kind: 'bool', access: 'runtime', knob: 'tcp_abort_on_overflow',
    description: 'Third ACK meets a full accept queue: 0 drops it and keeps the request, 1 answers RST.',
    source: LINUX_FLAG_SOURCE,
  },
  {
    name: 'net.ipv4.tcp_synack_retries',
    description: 'SYN-ACK retransmissions (1 s, doubling) before an unanswered request is dropped.',
    min: 0, max: 255, access: 'runtime', knob: 'tcp_synack_retries',
    source:
      'proc_dou8vec_minmax from 5.13 (0..255). 4.14/5.4 take any int, but the request counter is a ' +
      'u8, so values above 255 never expire; wtcp uses 0..255 for all versions',
  },
  {
    name: 'net.ipv4.tcp_syn_retries',
    description: 'SYN retransmissions of an active open before connect() fails with ETIMEDOUT (TCP_SYNCNT sets it per socket).',
    min: 1, max: 127, access: 'runtime', knob: 'tcp_syn_retries',
    source: 'proc_dou8vec_minmax, 1..MAX_TCP_SYNCNT (127); TCP_SYN_RETRIES = 6',
  },
  {
    name: 'net.ipv4.tcp_syn_linear_timeouts',
    description:
      'The first N SYN retransmissions of an active open wait the initial RTO (1 s) instead of doubling ' +
      '(1, 1, 1, 1, 1, 2, 4, ... s with 4); they are added to tcp_syn_retries. Linux 6.5+; 0 reproduces older kernels.',
    min: 0, max: 127, access: 'runtime', knob: 'tcp_syn_linear_timeouts',
    source:
      '"tcp: make the first N SYN RTO backoffs linear" (6.5), default 4; read as 4 on the reference machine ' +
      '(6.18.44). The 4.14 and 5.4 presets have it at 0, where the real kernels have no such sysctl',
  },
  {
    name: 'net.ipv4.tcp_max_syn_backlog',
    description:
      'With syncookies off, SYNs from unproven peers are dropped once a listener holds 3/4 of this many requests.',
    min: INT_MIN, max: INT_MAX, access: 'runtime', knob: 'tcp_max_syn_backlog', unit: 'entries',
    source:
      'proc_dointvec in every version: any int is stored, no range check (0 and negative values make ' +
      'tcp_conn_request refuse unproven peers almost at once)',
  },
  {
    name: 'net.ipv4.ip_local_port_range',
    kind: 'vector', length: 2, min: 1, max: 65535, access: 'runtime', knob: 'host', unit: 'port',
    description: 'First and last port autobind may choose (listen() or connect() on an unbound socket).',
    source:
      'ipv4_local_port_range: each port 1..65535, last >= first, first >= ip_unprivileged_port_start ' +
      '(since 4.11); equal parity is allowed (the kernel only logs "prefer different parity"). A ' +
      'single number changes only the first port, as a short write to /proc does',
    check: (candidate, value) => {
      const [lo = 0, hi = 0] = pair(candidate);
      if (hi < lo) return `the last port ${hi} is below the first port ${lo}`;
      const floor = scalar(value('net.ipv4.ip_unprivileged_port_start'));
      if (lo < floor) return `the first port ${lo} is below net.ipv4.ip_unprivileged_port_start (${floor})`;
      return undefined;
    },
  },
  {
    name: 'net.ipv4.ip_unprivileged_port_start',
    description: 'Lowest port an unprivileged socket may bind; the local port range may not start below it.',
    min: 0, max: 65535, access: 'runtime', knob: 'host', unit: 'port',
    source: 'ipv4_privileged_ports: 0..65535 and not above the first port of ip_local_port_range',
    check: (candidate, value) => {
      const lo = pair(value('net.ipv4.ip_local_port_range'))[0] ?? 0;
      const v = scalar(candidate);
      return v > lo ? `${v} is above the first port of net.ipv4.ip_local_port_range (${lo})` : undefined;
    },
  },
  {
    name: 'net.ipv4.tcp_timestamps',
    description: 'RFC 7323 timestamps: 0 off; 1 on, with a random offset per address pair; 2 on, no offset.',
    allowed: [0, 1, 2], min: 0, max: 2, access: 'runtime', knob: 'tcp_timestamps',
    source: 'wtcp accepts 0, 1, 2 (2 exists since 4.11); Linux stores any int (<= 5.12) or 0..255',
  },
  {
    name: 'net.ipv4.tcp_sack',
    kind: 'bool', access: 'runtime', knob: 'tcp_sack',
    description: 'Offer and accept SACK-permitted (RFC 2018).',
    source: LINUX_FLAG_SOURCE,
  },
  {
    name: 'net.ipv4.tcp_window_scaling',
    kind: 'bool', access: 'runtime', knob: 'tcp_window_scaling',
    description: 'Offer and accept the window scale option (RFC 7323).',
    source: LINUX_FLAG_SOURCE,
  },
  {
    name: 'net.ipv4.tcp_invalid_ratelimit',
    description: 'Least time between two replies to out-of-window segments or duplicate SYNs of one request.',
    min: 0, max: INT_MAX, access: 'runtime', knob: 'tcp_invalid_ratelimit', unit: 'ms',
    source:
      'proc_dointvec_ms_jiffies: wtcp rejects negative values (the kernel stores their magnitude) and ' +
      'keeps milliseconds exactly (the kernel rounds to jiffies)',
  },
  {
    name: 'net.ipv4.tcp_challenge_ack_limit',
    description:
      'RFC 5961 challenge ACKs the stack sends per second (randomised between limit/2 and 3*limit/2 each second); ' +
      'INT_MAX (the 6.0+ default) turns the global limit off, leaving the per-socket tcp_invalid_ratelimit.',
    min: 0, max: INT_MAX, access: 'runtime', knob: 'tcp_challenge_ack_limit', unit: 'per second',
    source:
      'proc_dointvec (wtcp rejects negative values); default 1000 since "tcp: make challenge acks less ' +
      'predictable" (4.7), INT_MAX since "tcp: make global challenge ack rate limitation per net-ns and ' +
      'default disabled" (6.0); tcp_send_challenge_ack in net/ipv4/tcp_input.c',
  },
  {
    name: 'net.ipv4.tcp_rmem',
    kind: 'vector', length: 3, min: 1, max: INT_MAX, access: 'runtime', unit: 'bytes',
    knob: 'tcp_rmem_default', derivedKnobs: ['rcv_wscale'],
    description:
      'Receive buffer min, initial (sets the offered window) and max (sets the window scale offered).',
    source:
      'proc_dointvec_minmax with extra1 = 1: each value >= 1, no ordering rule. Fewer than three ' +
      'numbers change only the leading ones, as a short write to /proc does',
  },
  {
    name: 'net.ipv4.ip_default_ttl',
    description: 'TTL of the IP datagrams the stack originates.',
    min: 1, max: 255, access: 'runtime', knob: 'ip_default_ttl',
    source: 'proc_dointvec_minmax with ip_ttl_min = 1, ip_ttl_max = 255',
  },
  {
    name: 'wtcp.linux.ehash_entries',
    description: "Buckets of the emulated machine's established hash; sets tcp_max_syn_backlog's default.",
    min: 1, max: 1 << 30, powerOfTwo: true, access: 'creation', knob: 'host', unit: 'entries',
    source:
      'wtcp pseudo-sysctl (Linux 6.1+ shows it read-only as net.ipv4.tcp_ehash_entries); ' +
      'alloc_large_system_hash always yields a power of two',
  },
  {
    name: 'wtcp.linux.synq_full_gt',
    kind: 'bool', access: 'creation', knob: 'synq_full_gt',
    description: 'Version switch: SYN queue full at qlen >= backlog (0: 4.4-6.12) or qlen > backlog (1: 6.13+, 6.1.125+).',
    source: 'wtcp pseudo-sysctl; spec 2.3 and 2.13',
  },
  {
    name: 'wtcp.linux.init_rwnd_segments',
    kind: 'int', min: 0, max: 65535, access: 'creation', knob: 'linux_init_rwnd',
    description: 'Version switch: the SYN-ACK window is capped to this many segments (20 before 4.20, 0 = no cap).',
    source: 'wtcp pseudo-sysctl; tcp_default_init_rwnd (TCP_INIT_CWND * 2), removed by "tcp: up initial rmem to 128KB and SYN rwin to around 64KB" (4.20)',
  },
  {
    name: 'wtcp.linux.synrecv_rst_challenge',
    kind: 'bool', access: 'creation', knob: 'synrecv_rst_challenge',
    description: 'Version switch: an in-window RST not at RCV.NXT for a request draws a challenge ACK (1) or kills it (0).',
    source: 'wtcp pseudo-sysctl; spec 2.6 step 6 (2026 fix, 6.1.191+) and the 6.18 observations, item 1',
  },
  {
    name: 'wtcp.linux.synrecv_tsecr_check',
    kind: 'bool', access: 'creation', knob: 'synrecv_tsecr_check',
    description: "Version switch: a third ACK whose TSecr echoes none of the SYN-ACK's TSvals is dropped with a challenge ACK (6.15+).",
    source: 'wtcp pseudo-sysctl; spec, 6.18 observations, item 3',
  },
  {
    name: 'wtcp.linux.ack_bytes_acked_bound',
    kind: 'bool', access: 'creation', knob: 'ack_bytes_acked_bound',
    description:
      'Version switch: an ACK below SND.UNA - min(max_window, bytes_acked) is too old (1: 6.7+) rather than ' +
      'below SND.UNA - max_window (0).',
    source: 'wtcp pseudo-sysctl; tcp_ack, "tcp: do not accept ACK of bytes we never sent" (6.7)',
  },
  {
    name: 'wtcp.linux.old_ack_closing',
    kind: 'bool', access: 'creation', knob: 'old_ack_closing',
    description:
      'Version switch: outside ESTABLISHED an old ACK (SEG.ACK < SND.UNA, not too old) is accepted (1: 6.9+) ' +
      'or dropped with a challenge ACK (0).',
    source: 'wtcp pseudo-sysctl; tcp_rcv_state_process step 5, "net: tcp: accept old ack during closing" (6.9)',
  },
  {
    name: 'wtcp.linux.ack_unsent_challenge',
    kind: 'bool', access: 'creation', knob: 'ack_unsent_challenge',
    description:
      'Version switch: in ESTABLISHED an ACK of unsent data (SEG.ACK > SND.NXT) is dropped with a challenge ' +
      'ACK (1) or silently (0).',
    source:
      'wtcp pseudo-sysctl; tcp_ack, "tcp: send a challenge ACK on SEG.ACK > SND.NXT" (2026, in 6.18.38+ ' +
      'stable, so on the reference machine)',
  },
  {
    name: 'net.ipv4.tcp_congestion_control',
    kind: 'string', choices: ['reno', 'cubic'], unknownChoice: 'ENOENT', access: 'runtime', knob: 'tcp_cc_default',
    description: 'Congestion control of new sockets (TCP_CONGESTION changes one socket): reno or cubic.',
    source: 'proc_tcp_congestion_control -> tcp_set_default_congestion_control: an unknown name (no module to load) is ENOENT',
  },
  {
    name: 'net.ipv4.tcp_available_congestion_control',
    kind: 'string', access: 'readonly', knob: 'host',
    description: 'The congestion-control algorithms there are, space-separated (read-only).',
    source: 'proc_tcp_available_congestion_control (0444); wtcp has reno and cubic',
  },
]);

const FREEBSD = defs('freebsd', [
  {
    name: 'kern.ipc.soacceptqueue',
    aliases: ['kern.ipc.somaxconn'],
    description: "Cap on listen()'s backlog: negative or larger arguments become this value at listen() time.",
    min: 1, max: Math.floor(4294967295 / 3), access: 'runtime', knob: 'host', unit: 'entries',
    source:
      'sysctl_somaxconn: 1..UINT_MAX/3 so that 3 * qlimit / 2 cannot overflow; kern.ipc.somaxconn ' +
      'is the hidden (CTLFLAG_SKIP) alias sharing the same variable',
  },
  {
    name: 'kern.ipc.maxsockbuf',
    description: 'Largest socket buffer; also picks the window scale offered: the least shift with 65535 << shift >= this.',
    min: 256 + 2048, max: Number.MAX_SAFE_INTEGER, access: 'runtime', knob: 'host', unit: 'bytes',
    derivedKnobs: ['rcv_wscale'],
    source: 'sysctl_handle_sb_max: at least MSIZE + MCLBYTES (2304); the kernel variable is a u_long',
  },
  {
    name: 'net.inet.tcp.syncookies',
    kind: 'bool', access: 'runtime', knob: 'fb_syncookies',
    description: "Make each SYN-ACK's ISS a syncookie, so an evicted syncache entry can still complete.",
    source: 'SYSCTL_INT (any int, non-zero = on); wtcp accepts 0 or 1',
  },
  {
    name: 'net.inet.tcp.syncookies_only',
    kind: 'bool', access: 'runtime', knob: 'fb_syncookies_only',
    description: 'Keep no syncache state: every SYN-ACK is a stateless cookie and is never retransmitted.',
    source: 'SYSCTL_INT (any int, non-zero = on); wtcp accepts 0 or 1',
  },
  {
    name: 'net.inet.tcp.syncache.rst_on_sock_fail',
    kind: 'bool', access: 'runtime', knob: 'fb_rst_on_sock_fail',
    description: 'A completed handshake that gets no socket (listen queue over its limit): RST (1) or silence (0).',
    source: 'SYSCTL_INT (any int, non-zero = on); wtcp accepts 0 or 1',
  },
  {
    name: 'net.inet.tcp.syncache.rexmtlimit',
    description: 'SYN-ACK retransmissions before a syncache entry is given up.',
    min: 0, max: 12, access: 'runtime', knob: 'fb_rexmtlimit',
    source: 'sysctl_net_inet_tcp_syncache_rexmtlimit_check: unsigned, at most TCP_MAXRXTSHIFT (12)',
  },
  {
    name: 'net.inet.tcp.syncache.bucketlimit',
    description: 'Syncache entries per hash bucket; inserting into a full bucket evicts its oldest entry.',
    min: 1, max: INT_MAX, access: 'creation', knob: 'fb_bucketlimit', unit: 'entries',
    source:
      'loader tunable (CTLFLAG_RDTUN): read-only at run time, so only settable at stack creation. ' +
      'FreeBSD does not check it; 0 would evict from an empty bucket, so wtcp requires >= 1',
  },
  {
    name: 'net.inet.tcp.syncache.hashsize',
    description: 'Number of syncache hash buckets.',
    min: 1, max: 1 << 30, powerOfTwo: true, access: 'creation', knob: 'pending', pendingKnob: 'fb_hashsize',
    unit: 'entries',
    source:
      'loader tunable (CTLFLAG_RDTUN), creation only. syncache_init replaces a value that is not a ' +
      'power of two with 512 and prints a warning; wtcp rejects it instead',
  },
  {
    name: 'net.inet.tcp.syncache.cachelimit',
    description: 'Syncache entries in all buckets together (default hashsize x bucketlimit).',
    min: 1, max: INT_MAX, access: 'creation', knob: 'fb_cachelimit', unit: 'entries',
    source: 'loader tunable (CTLFLAG_RDTUN), creation only; default computed in syncache_init',
  },
  {
    name: 'net.inet.tcp.drop_synfin',
    kind: 'bool', access: 'runtime', knob: 'fb_drop_synfin',
    description: 'Drop segments carrying both SYN and FIN instead of treating them as a SYN.',
    source: 'SYSCTL_INT (any int, non-zero = on); wtcp accepts 0 or 1',
  },
  {
    name: 'net.inet.tcp.insecure_rst',
    kind: 'bool', access: 'runtime', knob: 'fb_insecure_rst',
    description: 'Accept any in-window RST for an embryo, not only one at exactly IRS+1 (others get a challenge ACK).',
    source: 'SYSCTL_INT (any int, non-zero = on); wtcp accepts 0 or 1',
  },
  {
    name: 'net.inet.tcp.rexmit_initial',
    description: 'First SYN-ACK retransmission timeout; later ones are 2, 4, 8... times it.',
    min: 1, max: INT_MAX, access: 'runtime', knob: 'fb_rexmit_initial', unit: 'ms',
    source:
      'sysctl_msec_to_ticks: must come to at least one tick. Newer than 12.1 (see spec 7.5): wtcp ' +
      'offers it with the 3000 ms that 12.1 most likely used',
  },
  {
    name: 'net.inet.tcp.mssdflt',
    description: "MSS assumed when the peer's SYN carries no MSS option.",
    min: 216, max: INT_MAX, access: 'runtime', knob: 'mss_default', unit: 'bytes',
    source: 'sysctl_net_inet_tcp_mss_check: at least TCP_MINMSS (216)',
  },
  {
    name: 'net.inet.icmp.icmplim',
    description: 'RSTs (and ICMP errors) answering unwanted segments, per second at most; 0 = no limit.',
    min: 0, max: INT_MAX, access: 'runtime', knob: 'fb_icmplim', unit: 'per second',
    source: 'SYSCTL_INT; FreeBSD also stores negative values (no limit), wtcp asks for 0 instead',
  },
  {
    name: 'net.inet.ip.portrange.first',
    description: 'One end of the range autobind picks ports from at random.',
    min: 1024, max: 65535, outOfRange: 'clamp', access: 'runtime', knob: 'host', unit: 'port',
    source:
      'sysctl_net_ipport_check: out-of-range values are clamped into IPPORT_RESERVED..IPPORT_MAX ' +
      '(1024..65535), not refused; first > last is allowed (in_pcb_lport swaps them)',
  },
  {
    name: 'net.inet.ip.portrange.last',
    description: 'The other end of the autobind port range.',
    min: 1024, max: 65535, outOfRange: 'clamp', access: 'runtime', knob: 'host', unit: 'port',
    source: 'sysctl_net_ipport_check, as portrange.first',
  },
  {
    name: 'net.inet.tcp.rfc1323',
    kind: 'bool', access: 'runtime', knob: 'fb_rfc1323',
    description: 'Window scaling and timestamps (RFC 7323).',
    source: 'SYSCTL_INT; 12.1 knows only off/on (the "2"/"3" half settings came later); wtcp accepts 0 or 1',
  },
  {
    name: 'net.inet.tcp.sack.enable',
    kind: 'bool', access: 'runtime', knob: 'fb_sack',
    description: 'SACK (RFC 2018).',
    source: 'SYSCTL_INT (any int, non-zero = on); wtcp accepts 0 or 1',
  },
  {
    name: 'net.inet.tcp.recvspace',
    description: "A TCP socket's initial receive buffer; the SYN-ACK window is the smaller of it and 65535.",
    min: 1, max: INT_MAX, access: 'runtime', knob: 'fb_recvspace', unit: 'bytes',
    source: 'SYSCTL_ULONG without a check (socket creation fails later if too big); wtcp asks 1..INT_MAX',
  },
  {
    name: 'net.inet.ip.ttl',
    description: 'TTL of the IP datagrams the stack originates.',
    min: 1, max: 255, access: 'runtime', knob: 'ip_default_ttl',
    source: 'SYSCTL_INT without a check (the header field keeps the low 8 bits); wtcp asks 1..255',
  },
  {
    name: 'net.inet.accf.http.parsehttpversion',
    kind: 'bool', access: 'runtime', knob: 'host',
    description: 'accf_http: after "GET "/"HEAD ", wait for the end of headers only for HTTP/1.0 and 1.1 requests.',
    source: 'SYSCTL_INT in accf_http.c (non-zero = on); wtcp accepts 0 or 1',
  },
  {
    name: 'net.inet.tcp.cc.algorithm',
    kind: 'string', choices: ['newreno', 'cubic'], unknownChoice: 'ESRCH', access: 'runtime', knob: 'tcp_cc_default',
    description: 'Default congestion-control algorithm of new connections: newreno or cubic.',
    source: 'cc.c cc_default_algo: a name not on cc_list is ESRCH',
  },
  {
    name: 'net.inet.tcp.cc.available',
    kind: 'string', access: 'readonly', knob: 'host',
    description: 'The congestion-control algorithms loaded, joined by ", " (read-only).',
    source: 'cc.c cc_list_available (CTLFLAG_RD)',
  },
]);

const BSD43 = defs('bsd43', [
  {
    name: 'wtcp.bsd43.somaxconn',
    description: "SOMAXCONN: cap on listen()'s backlog (a compile-time constant).",
    min: 5, max: 5, access: 'readonly', knob: 'host', unit: 'entries',
    source: 'sys/socket.h; listen(2) BUGS: "limited (silently) to 5"',
  },
  {
    name: 'wtcp.bsd43.ipport_reserved',
    description: 'IPPORT_RESERVED: the first port autobind hands out, counting up from there.',
    min: 1024, max: 1024, access: 'readonly', knob: 'host', unit: 'port',
    source: 'netinet/in.h; in_pcbbind autobind loop (spec 4.6)',
  },
  {
    name: 'wtcp.bsd43.ipport_userreserved',
    description: 'IPPORT_USERRESERVED: the last port autobind hands out before starting again at 1024.',
    min: 5000, max: 5000, access: 'readonly', knob: 'host', unit: 'port',
    source: 'netinet/in.h; in_pcbbind autobind loop (spec 4.6)',
  },
  {
    name: 'wtcp.bsd43.mss_local',
    description: 'MSS offered to peers on a directly attached subnet (MTU - 40 rounded down to CLBYTES).',
    min: 1, max: 65535, access: 'creation', knob: 'b43_mss_local', unit: 'bytes',
    source: 'tcp_mss() in tcp_input.c; 1024 on the VAX reference (spec 4.3 item 7); machine-dependent',
  },
  {
    name: 'wtcp.bsd43.tcp_mss',
    description: 'TCP_MSS: segment size with peers that sent no MSS option, and the cap for non-local peers.',
    min: 512, max: 512, access: 'readonly', knob: 'mss_default', unit: 'bytes',
    source: 'netinet/tcp.h; tcp_newtcpcb sets t_maxseg to it',
  },
  {
    name: 'wtcp.bsd43.recvspace',
    description: 'tcp_recvspace: receive buffer and the window offered in the SYN-ACK.',
    min: 1, max: 65535, access: 'creation', knob: 'b43_recvspace', unit: 'bytes',
    source: 'tcp_usrreq.c global (patchable only with a debugger); no window scaling, so <= 65535',
  },
  {
    name: 'wtcp.bsd43.predictable_isn',
    kind: 'bool', access: 'creation', knob: 'b43_predictable_isn',
    description: 'ISS from the historical global counter (1, +64000 per connection and per 500 ms) or RFC 6528 (0).',
    source: 'wtcp switch; spec 4.3 item 5 and 5.3 (RFC 6528 unless asked)',
  },
  {
    name: 'wtcp.bsd43.tcp_ttl',
    description: 'TCP_TTL: TTL of the segments the stack sends.',
    min: 1, max: 255, access: 'creation', knob: 'ip_default_ttl',
    source: 'tcp_timer.h: TCP_TTL 30 since SCCS 6.7 ("longer TTL\'s", April 1986), unchanged in the 7.1 release',
  },
]);

/** Every sysctl of every family. */
export const SYSCTLS: readonly SysctlDefinition[] = Object.freeze([...LINUX, ...FREEBSD, ...BSD43]);

const BY_FAMILY: Readonly<Record<FamilyName, readonly SysctlDefinition[]>> = {
  linux: LINUX,
  freebsd: FREEBSD,
  bsd43: BSD43,
};

/** Canonical and alias names → definition, across families (for "belongs to freebsd" messages). */
const BY_NAME = new Map<string, SysctlDefinition>();
for (const d of SYSCTLS) {
  BY_NAME.set(d.name, d);
  for (const a of d.aliases ?? []) BY_NAME.set(a, d);
}

export function sysctlDefinitions(family: FamilyName): readonly SysctlDefinition[] {
  return BY_FAMILY[family];
}

// ------------------------------------------------------------------------------------------------
// Knobs: how the core's view is computed from a family's sysctls
// ------------------------------------------------------------------------------------------------

interface Reader {
  int(name: string): number;
  vec(name: string): readonly number[];
  str(name: string): string;
}
type KnobSource = (r: Reader) => number;

/** Linux's TCP_MSS_DEFAULT: assumed when a SYN carries no MSS option. Not a sysctl. */
const LINUX_MSS_DEFAULT = 536;
/**
 * net.core.rmem_max as Linux boots (SK_RMEM_MAX, 212992 on x86-64). Not offered as a sysctl: it only
 * matters for the window scale when tcp_rmem's max is set below it.
 */
const LINUX_RMEM_MAX = 212992;

/**
 * Window scale Linux offers (tcp_select_initial_window): ilog2(max(tcp_rmem[2], rmem_max)) - 15,
 * clamped to 0..14. 6 MiB gives 7; the 32 MiB of 6.16+ gives 10 (seen on the reference machine).
 */
export function linuxRcvWscale(rmemMax: number): number {
  const space = Math.max(rmemMax, LINUX_RMEM_MAX);
  return Math.min(14, Math.max(0, Math.floor(Math.log2(space)) - 15));
}

/**
 * Window scale FreeBSD offers (syncache_add): the least shift with 65535 << shift >= sb_max,
 * at most TCP_MAX_WINSHIFT (14). The default 2 MiB gives 6.
 */
export function freebsdRcvWscale(sbMax: number): number {
  let wscale = 0;
  while (wscale < 14 && 65535 * 2 ** wscale < sbMax) wscale++;
  return wscale;
}

/**
 * Per family, the source of each knob it owns. Keyed by string so that a knob the core gains later
 * (fb_hashsize) is picked up as soon as core-abi.ts lists it. Knobs of other families read 0.
 */
const KNOB_SOURCES: Readonly<Record<FamilyName, Readonly<Record<string, KnobSource>>>> = {
  linux: {
    family: () => Family.Linux,
    tcp_syncookies: (r) => r.int('net.ipv4.tcp_syncookies'),
    tcp_abort_on_overflow: (r) => r.int('net.ipv4.tcp_abort_on_overflow'),
    tcp_synack_retries: (r) => r.int('net.ipv4.tcp_synack_retries'),
    tcp_syn_retries: (r) => r.int('net.ipv4.tcp_syn_retries'),
    tcp_syn_linear_timeouts: (r) => r.int('net.ipv4.tcp_syn_linear_timeouts'),
    tcp_max_syn_backlog: (r) => r.int('net.ipv4.tcp_max_syn_backlog'),
    synq_full_gt: (r) => r.int('wtcp.linux.synq_full_gt'),
    linux_init_rwnd: (r) => r.int('wtcp.linux.init_rwnd_segments'),
    synrecv_rst_challenge: (r) => r.int('wtcp.linux.synrecv_rst_challenge'),
    synrecv_tsecr_check: (r) => r.int('wtcp.linux.synrecv_tsecr_check'),
    tcp_timestamps: (r) => r.int('net.ipv4.tcp_timestamps'),
    tcp_sack: (r) => r.int('net.ipv4.tcp_sack'),
    tcp_window_scaling: (r) => r.int('net.ipv4.tcp_window_scaling'),
    tcp_invalid_ratelimit: (r) => r.int('net.ipv4.tcp_invalid_ratelimit'),
    tcp_challenge_ack_limit: (r) => r.int('net.ipv4.tcp_challenge_ack_limit'),
    ack_bytes_acked_bound: (r) => r.int('wtcp.linux.ack_bytes_acked_bound'),
    old_ack_closing: (r) => r.int('wtcp.linux.old_ack_closing'),
    ack_unsent_challenge: (r) => r.int('wtcp.linux.ack_unsent_challenge'),
    tcp_rmem_default: (r) => r.vec('net.ipv4.tcp_rmem')[1] ?? 0,
    ip_default_ttl: (r) => r.int('net.ipv4.ip_default_ttl'),
    rcv_wscale: (r) => linuxRcvWscale(r.vec('net.ipv4.tcp_rmem')[2] ?? 0),
    mss_default: () => LINUX_MSS_DEFAULT,
    link_mtu: () => 0,   // the Stack sets it from its links' MTU (0 = 1500)
    tcp_cc_default: (r) => (r.str('net.ipv4.tcp_congestion_control') === 'cubic' ? CcAlgo.Cubic : CcAlgo.Reno),
  },
  freebsd: {
    family: () => Family.FreeBSD,
    fb_syncookies: (r) => r.int('net.inet.tcp.syncookies'),
    fb_syncookies_only: (r) => r.int('net.inet.tcp.syncookies_only'),
    fb_rst_on_sock_fail: (r) => r.int('net.inet.tcp.syncache.rst_on_sock_fail'),
    fb_drop_synfin: (r) => r.int('net.inet.tcp.drop_synfin'),
    fb_insecure_rst: (r) => r.int('net.inet.tcp.insecure_rst'),
    fb_rexmtlimit: (r) => r.int('net.inet.tcp.syncache.rexmtlimit'),
    fb_rexmit_initial: (r) => r.int('net.inet.tcp.rexmit_initial'),
    fb_bucketlimit: (r) => r.int('net.inet.tcp.syncache.bucketlimit'),
    fb_cachelimit: (r) => r.int('net.inet.tcp.syncache.cachelimit'),
    fb_hashsize: (r) => r.int('net.inet.tcp.syncache.hashsize'), // not yet in KNOBS
    fb_icmplim: (r) => r.int('net.inet.icmp.icmplim'),
    fb_rfc1323: (r) => r.int('net.inet.tcp.rfc1323'),
    fb_sack: (r) => r.int('net.inet.tcp.sack.enable'),
    fb_recvspace: (r) => r.int('net.inet.tcp.recvspace'),
    ip_default_ttl: (r) => r.int('net.inet.ip.ttl'),
    rcv_wscale: (r) => freebsdRcvWscale(r.int('kern.ipc.maxsockbuf')),
    mss_default: (r) => r.int('net.inet.tcp.mssdflt'),
    link_mtu: () => 0,
    tcp_cc_default: (r) => (r.str('net.inet.tcp.cc.algorithm') === 'cubic' ? CcAlgo.Cubic : CcAlgo.Reno),
  },
  bsd43: {
    family: () => Family.BSD43,
    b43_mss_local: (r) => r.int('wtcp.bsd43.mss_local'),
    b43_recvspace: (r) => r.int('wtcp.bsd43.recvspace'),
    b43_predictable_isn: (r) => r.int('wtcp.bsd43.predictable_isn'),
    ip_default_ttl: (r) => r.int('wtcp.bsd43.tcp_ttl'),
    rcv_wscale: () => 0, // 4.3BSD predates window scaling
    mss_default: (r) => r.int('wtcp.bsd43.tcp_mss'),
    link_mtu: () => 0,
  },
};

/** The knob names a family provides (exported for tests and for documentation tools). */
export function knobSources(family: FamilyName): readonly string[] {
  return Object.keys(KNOB_SOURCES[family]);
}

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

export type SysctlErrorCode = 'ENOENT' | 'EINVAL' | 'EPERM' | 'ESRCH';
const ERRNO: Readonly<Record<SysctlErrorCode, number>> = { EPERM: 1, ENOENT: 2, ESRCH: 3, EINVAL: 22 };

/** An OS-style error: `code` is the errno name, `errno` its number (same on Linux and the BSDs). */
export class SysctlError extends Error {
  readonly code: SysctlErrorCode;
  readonly errno: number;
  readonly syscall = 'sysctl';
  /** The sysctl name as the caller spelled it. */
  readonly sysctl: string;
  constructor(code: SysctlErrorCode, sysctl: string, message: string) {
    super(message);
    this.name = 'SysctlError';
    this.code = code;
    this.errno = ERRNO[code];
    this.sysctl = sysctl;
  }
}

// ------------------------------------------------------------------------------------------------
// Parsing and validation
// ------------------------------------------------------------------------------------------------

/**
 * An integer as sysctl(8) on either OS reads it: base 0 of strtol, i.e. decimal, 0x hex, or octal
 * with a leading 0 ("010" is 8 on Linux and FreeBSD alike). Surrounding white space is ignored.
 */
function parseInteger(text: string): number | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text.trim());
  if (m === null) return undefined;
  const digits = m[2] ?? '';
  let n: number;
  if (/^0[xX]/.test(digits)) n = parseInt(digits.slice(2), 16);
  else if (digits.length > 1 && digits.startsWith('0')) n = parseInt(digits.slice(1), 8);
  else n = parseInt(digits, 10);
  if (!Number.isSafeInteger(n)) return undefined;
  return m[1] === '-' ? (n === 0 ? 0 : -n) : n;
}

function showInput(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input);
  if (Array.isArray(input)) return `[${input.map(showInput).join(', ')}]`;
  return String(input);
}

function rangeText(min: number, max: number): string {
  return min === max ? `${min}` : `${min}..${max}`;
}

/** The accepted values, in words, for EINVAL messages. */
export function acceptedValues(def: SysctlDefinition): string {
  let one: string;
  if (def.kind === 'string') return def.choices === undefined ? 'a string' : `one of ${def.choices.join(', ')}`;
  if (def.kind === 'bool') one = '0 or 1';
  else if (def.allowed !== undefined) one = `one of ${def.allowed.join(', ')}`;
  else if (def.powerOfTwo === true) one = `a power of two in ${rangeText(def.min, def.max)}`;
  else if (def.min === def.max) one = `${def.min}`;
  else one = `an integer in ${rangeText(def.min, def.max)}`;
  if (def.kind === 'vector') {
    return `${def.length ?? 0} integers separated by spaces, each ${one.replace(/^an integer in /, 'in ')}`;
  }
  return one;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n)) && 2 ** Math.log2(n) === n;
}

/** One integer checked against a definition's rule; the clamped value, or undefined if refused. */
function checkElement(def: SysctlDefinition, n: number): number | undefined {
  if (def.outOfRange === 'clamp') {
    // sysctl_handle_int takes any C int, the handler then clamps.
    if (n < INT_MIN || n > INT_MAX) return undefined;
    return Math.min(def.max, Math.max(def.min, n));
  }
  if (n < def.min || n > def.max) return undefined;
  if (def.allowed !== undefined && !def.allowed.includes(n)) return undefined;
  if (def.powerOfTwo === true && !isPowerOfTwo(n)) return undefined;
  return n;
}

function toInteger(x: unknown, allowBool: boolean): number | undefined {
  if (typeof x === 'number') return Number.isSafeInteger(x) ? x + 0 : undefined; // + 0 turns -0 into 0
  if (typeof x === 'string') return parseInteger(x);
  if (typeof x === 'boolean' && allowBool) return x ? 1 : 0;
  return undefined;
}

/**
 * Turn user input into the sysctl's new value. Vectors may be given partly: the missing trailing
 * integers keep their current value (what a short write to a /proc vector does).
 */
function parseValue(def: SysctlDefinition, input: unknown, current: SysctlValue | undefined): SysctlValue {
  const invalid = (why?: string): SysctlError =>
    new SysctlError(
      'EINVAL',
      def.name,
      `invalid value ${showInput(input)} for ${def.name}: expected ${acceptedValues(def)}` +
        (why === undefined ? '' : ` (${why})`),
    );
  if (def.kind === 'string') {
    // written as `sysctl -w name=cubic` or `echo cubic > /proc/...`: white space around is dropped
    if (typeof input !== 'string') throw invalid();
    const name = input.trim();
    if (def.choices === undefined) return name;
    if (!def.choices.includes(name)) {
      const code = def.unknownChoice ?? 'EINVAL';
      throw new SysctlError(code, def.name, `${def.name}: no algorithm named ${showInput(name)} (expected ${acceptedValues(def)})`);
    }
    return name;
  }
  if (def.kind !== 'vector') {
    const n = toInteger(input, def.kind === 'bool');
    if (n === undefined) throw invalid();
    const v = checkElement(def, n);
    if (v === undefined) throw invalid();
    return v;
  }
  const length = def.length ?? 1;
  let parts: readonly unknown[];
  if (typeof input === 'string') parts = input.trim() === '' ? [] : input.trim().split(/\s+/);
  else if (Array.isArray(input)) parts = input;
  else if (typeof input === 'number') parts = [input];
  else throw invalid();
  if (parts.length === 0) throw invalid('no value given');
  if (parts.length > length) throw invalid(`${parts.length} values given`);
  const base = current === undefined ? [] : [...pair(current)];
  const out: number[] = [];
  for (let i = 0; i < length; i++) {
    if (i < parts.length) {
      const n = toInteger(parts[i], false);
      const v = n === undefined ? undefined : checkElement(def, n);
      if (v === undefined) throw invalid();
      out.push(v);
    } else {
      const keep = base[i];
      if (keep === undefined) throw invalid(`all ${length} values are needed`);
      out.push(keep);
    }
  }
  return Object.freeze(out);
}

function sameValue(a: SysctlValue, b: SysctlValue): boolean {
  if (typeof a !== 'object' || typeof b !== 'object') return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether two inputs for one sysctl mean the same thing ("64" and 64 do). */
function sameInput(def: SysctlDefinition, a: SysctlInput, b: SysctlInput): boolean {
  try {
    return sameValue(parseValue(def, a, undefined), parseValue(def, b, undefined));
  } catch {
    return showInput(a) === showInput(b);
  }
}

/** A value as `sysctl` prints it: vectors separated by tabs, as /proc shows them. */
export function formatSysctlValue(value: SysctlValue): string {
  return typeof value === 'number' ? String(value) : typeof value === 'string' ? value : value.join('\t');
}

// ------------------------------------------------------------------------------------------------
// The registry of one stack
// ------------------------------------------------------------------------------------------------

export interface SysctlEntry {
  readonly name: string;
  readonly value: SysctlValue;
  /** As `sysctl -a` would print the value. */
  readonly text: string;
  readonly access: SysctlAccess;
}

export interface KnobUpdate {
  /** Index into KNOBS: the id for the core's setKnob(id, value). */
  readonly id: number;
  readonly knob: KnobName;
  readonly value: number;
}

export interface SysctlChange {
  /** Canonical name (an alias that was written is reported under its canonical name). */
  readonly name: string;
  readonly value: SysctlValue;
  readonly previous: SysctlValue;
  /** Knobs whose value changed because of this write; empty for host-only sysctls. */
  readonly knobs: readonly KnobUpdate[];
}

export type SysctlListener = (change: SysctlChange) => void;

/**
 * The sysctls of one stack: created from a personality (preset name or object) and overrides
 * `{ name: value }`, which may set runtime and creation-only sysctls (never read-only ones).
 */
export class Sysctls {
  readonly personality: Personality;
  readonly family: FamilyName;
  readonly #defs: ReadonlyMap<string, SysctlDefinition>;
  readonly #values = new Map<string, SysctlValue>();
  readonly #listeners = new Set<SysctlListener>();

  constructor(personality: string | Personality = DEFAULT_PERSONALITY, overrides: SysctlOverrides = {}) {
    this.personality = typeof personality === 'string' ? resolvePersonality(personality) : personality;
    this.family = this.personality.family;
    if (!FAMILIES.includes(this.family)) {
      throw new Error(`personality ${this.personality.name} has an unknown family ${String(this.family)}`);
    }
    const family = BY_FAMILY[this.family];
    this.#defs = new Map(family.map((d) => [d.name, d]));

    const defaults = this.personality.defaults;
    for (const name of Object.keys(defaults)) {
      if (!this.#defs.has(name)) {
        throw new Error(`personality ${this.personality.name} gives a default for ${name}, not a ${this.family} sysctl`);
      }
    }
    for (const d of family) {
      if (!Object.prototype.hasOwnProperty.call(defaults, d.name)) {
        throw new Error(`personality ${this.personality.name} has no default for ${d.name}`);
      }
    }

    // 1. Parse overrides (no cross-checks yet); an alias and its name must not disagree.
    const given = new Map<string, { spelled: string; input: SysctlInput }>();
    for (const [spelled, input] of Object.entries(overrides)) {
      const def = this.#lookup(spelled);
      if (def.access === 'readonly') throw this.#readOnly(def, spelled);
      const earlier = given.get(def.name);
      if (earlier !== undefined && !sameInput(def, earlier.input, input)) {
        throw new SysctlError(
          'EINVAL', spelled,
          `${spelled} and ${earlier.spelled} name the same sysctl and were given different values`,
        );
      }
      given.set(def.name, { spelled, input });
    }

    // 2. Resolve every value: override over default, derived defaults evaluated on demand.
    const resolving = new Set<string>();
    const resolve = (name: string): SysctlValue => {
      const done = this.#values.get(name);
      if (done !== undefined) return done;
      const def = this.#defs.get(name);
      if (def === undefined) throw new Error(`derived default reads ${name}, not a ${this.family} sysctl`);
      if (resolving.has(name)) throw new Error(`derived defaults of ${this.personality.name} loop through ${name}`);
      resolving.add(name);
      const spec = defaults[name] as DefaultSpec;
      let value: SysctlValue =
        typeof spec === 'function' ? spec({ int: (n) => scalar(resolve(n)) }) : spec;
      // Defaults are trusted but still pass the rule, so a broken preset fails loudly.
      value = parseValue(def, typeof value === 'object' ? [...value] : value, undefined);
      const o = given.get(name);
      if (o !== undefined) value = parseValue(def, o.input, value);
      resolving.delete(name);
      this.#values.set(name, value);
      return value;
    };
    for (const d of family) resolve(d.name);

    // 3. Cross-checks on the final state.
    for (const d of family) {
      const why = d.check?.(this.#get(d.name), (n) => this.#get(n));
      if (why !== undefined) {
        const spelled = given.get(d.name)?.spelled ?? d.name;
        throw new SysctlError(
          'EINVAL', spelled,
          `invalid value ${formatSysctlValue(this.#get(d.name))} for ${d.name}: ${why}`,
        );
      }
    }
  }

  /** Whether this personality has a sysctl of that name (aliases included). */
  has(name: string): boolean {
    try {
      this.#lookup(name);
      return true;
    } catch {
      return false;
    }
  }

  /** The current value (aliases allowed). Vectors come back as frozen arrays. */
  get(name: string): SysctlValue {
    return this.#get(this.#lookup(name).name);
  }

  /** The current value as `sysctl -n` prints it. */
  getText(name: string): string {
    return formatSysctlValue(this.get(name));
  }

  /** The definition of a sysctl of this stack's family (aliases allowed). */
  describe(name: string): SysctlDefinition {
    return this.#lookup(name);
  }

  /**
   * Write a runtime sysctl, as `sysctl -w name=value` would. Throws ENOENT (no such sysctl in this
   * family), EPERM (read-only or creation-only), EINVAL (bad value). Listeners hear of real changes.
   */
  set(name: string, value: SysctlInput): void {
    const def = this.#lookup(name);
    if (def.access === 'readonly') throw this.#readOnly(def, name);
    if (def.access === 'creation') {
      throw new SysctlError(
        'EPERM', name,
        `${name} can only be set when the stack is created (pass it in the overrides)` +
          (def.family === 'freebsd' ? '; in FreeBSD it is a loader tunable, read-only at run time' : ''),
      );
    }
    const previous = this.#get(def.name);
    const next = parseValue(def, value, previous);
    const why = def.check?.(next, (n) => (n === def.name ? next : this.#get(n)));
    if (why !== undefined) {
      throw new SysctlError('EINVAL', name, `invalid value ${showInput(value)} for ${def.name}: ${why}`);
    }
    if (sameValue(previous, next)) return;
    const before = this.knobValues();
    this.#values.set(def.name, next);
    const after = this.knobValues();
    const knobs: KnobUpdate[] = [];
    after.forEach((v, id) => {
      if (v !== before[id]) knobs.push({ id, knob: KNOBS[id] as KnobName, value: v });
    });
    const change: SysctlChange = { name: def.name, value: next, previous, knobs };
    for (const listener of [...this.#listeners]) listener(change);
  }

  /** Every sysctl of the family with its value, sorted by name, hidden aliases left out (`sysctl -a`). */
  list(): SysctlEntry[] {
    return [...this.#defs.values()]
      .map((d) => {
        const value = this.#get(d.name);
        return { name: d.name, value, text: formatSysctlValue(value), access: d.access };
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The value of every KNOBS entry, in KNOBS order, for the core's init. Other families' knobs are 0. */
  knobValues(): number[] {
    return KNOBS.map((k) => this.knob(k));
  }

  /** One knob's value. */
  knob(knob: KnobName): number {
    const source = KNOB_SOURCES[this.family][knob];
    if (source === undefined) return 0;
    return source({ int: (n) => scalar(this.#get(n)), vec: (n) => pair(this.#get(n)), str: (n) => text(this.#get(n)) });
  }

  /** The id the core uses for a knob (KNOBS index). */
  static knobId(knob: KnobName): number {
    return KNOB[knob];
  }

  /** Hear about every change made by `set()`; returns the function that stops listening. */
  onChange(listener: SysctlListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  // --- host helpers: the sysctls the host applies itself -------------------------------------------

  /** The family's cap on listen()'s backlog: net.core.somaxconn, kern.ipc.soacceptqueue or SOMAXCONN 5. */
  somaxconn(): number {
    switch (this.family) {
      case 'linux': return scalar(this.#get('net.core.somaxconn'));
      case 'freebsd': return scalar(this.#get('kern.ipc.soacceptqueue'));
      case 'bsd43': return scalar(this.#get('wtcp.bsd43.somaxconn'));
    }
  }

  /**
   * The backlog listen(fd, backlog) ends up with, per the family's rule (spec 2.2, 3.2, 4.2):
   * linux `(unsigned)b > somaxconn ? somaxconn : b`; freebsd `b < 0 || b > cap ? cap : b`;
   * 4.3bsd `b < 0 ? 0 : min(b, 5)`. The argument is taken as a C int.
   */
  effectiveBacklog(backlog: number): number {
    const b = Math.trunc(backlog) | 0;
    const cap = this.somaxconn();
    switch (this.family) {
      case 'linux': return b >>> 0 > cap ? cap : b;
      case 'freebsd': return b < 0 || b > cap ? cap : b;
      case 'bsd43': return b < 0 ? 0 : Math.min(b, cap);
    }
  }

  /**
   * The autobind port range, lowest first. FreeBSD's two ends may be given either way round
   * (in_pcb_lport swaps them); 4.3BSD's is fixed at 1024..5000.
   */
  ephemeralPortRange(): { first: number; last: number } {
    switch (this.family) {
      case 'linux': {
        const [first = 0, last = 0] = pair(this.#get('net.ipv4.ip_local_port_range'));
        return { first, last };
      }
      case 'freebsd': {
        const a = scalar(this.#get('net.inet.ip.portrange.first'));
        const b = scalar(this.#get('net.inet.ip.portrange.last'));
        return { first: Math.min(a, b), last: Math.max(a, b) };
      }
      case 'bsd43':
        return {
          first: scalar(this.#get('wtcp.bsd43.ipport_reserved')),
          last: scalar(this.#get('wtcp.bsd43.ipport_userreserved')),
        };
    }
  }

  // --- internals -------------------------------------------------------------------------------------

  #get(name: string): SysctlValue {
    const v = this.#values.get(name);
    if (v === undefined) throw new Error(`internal: ${name} has no value`);
    return v;
  }

  #lookup(name: string): SysctlDefinition {
    const def = typeof name === 'string' ? BY_NAME.get(name) : undefined;
    if (def === undefined) {
      throw new SysctlError('ENOENT', String(name), `unknown sysctl ${String(name)} for ${this.personality.name}`);
    }
    if (def.family !== this.family) {
      throw new SysctlError(
        'ENOENT', name,
        `unknown sysctl ${name} for ${this.personality.name}: it belongs to ${def.family}, not ${this.family}`,
      );
    }
    return def;
  }

  #readOnly(def: SysctlDefinition, spelled: string): SysctlError {
    // Also used while the constructor is still resolving values: fall back to the preset's default.
    const spec = this.personality.defaults[def.name];
    const value = this.#values.get(def.name) ?? (typeof spec === 'function' ? undefined : spec);
    return new SysctlError(
      'EPERM', spelled,
      `${spelled} is read-only (${def.family === 'bsd43' ? 'a compile-time constant of 4.3BSD' : 'fixed'})` +
        (value === undefined ? '' : `: it is always ${formatSysctlValue(value)}`),
    );
  }
}
