/**
 * Personality presets: which OS (family) the stack imitates, which version-dependent behaviours of
 * that OS are switched on, and the default value of every sysctl the family has.
 *
 * Owned here: the preset table and name resolution. The sysctl registry (src/sysctl.ts) reads a
 * preset's `defaults` when a stack is created; the host and the core never read presets directly.
 *
 * Version behaviours are ordinary (creation-time) pseudo-sysctls under `wtcp.<family>.*`, so a kernel
 * that sits between two presets can be built by hand, e.g. Linux 6.1.125 (the SYN-queue fix was
 * backported, the 2026 challenge-ACK fix was not):
 *
 *   new Sysctls('linux-5.4', { 'wtcp.linux.synq_full_gt': 1 })
 *
 * Sources for the numbers are cited next to them; "spec" is /work/shared/listen-behaviour.md.
 */

/** Personality families, in the spelling used by the spec and the presets. */
export type FamilyName = 'linux' | 'freebsd' | 'bsd43';

export const FAMILIES: readonly FamilyName[] = ['linux', 'freebsd', 'bsd43'];

/**
 * A sysctl value: one integer, a fixed-length vector of integers (ip_local_port_range, tcp_rmem),
 * or a string (tcp_congestion_control, net.inet.tcp.cc.algorithm).
 */
export type SysctlValue = number | string | readonly number[];

/** What a derived default may read: the value of another sysctl of the same personality. */
export interface DefaultContext {
  /** The (already resolved) integer value of a scalar sysctl. */
  int(name: string): number;
}

/**
 * A default is a value, or a function of other values. Derived defaults are recomputed from the
 * creation-time overrides (e.g. FreeBSD's cachelimit follows hashsize × bucketlimit unless given).
 */
export type DefaultSpec = SysctlValue | ((ctx: DefaultContext) => SysctlValue);

export interface Personality {
  /** Preset name, e.g. 'linux-5.4'. Used in error messages. */
  readonly name: string;
  readonly family: FamilyName;
  /** One line: what this preset reproduces. */
  readonly description: string;
  /** Default of every sysctl of the family (the registry checks that none is missing). */
  readonly defaults: Readonly<Record<string, DefaultSpec>>;
}

export const PERSONALITY_NAMES = [
  'linux-4.14',
  'linux-5.4',
  'linux-6.13',
  'linux-6.18',
  'freebsd-12.1',
  '4.3bsd',
] as const;
export type PersonalityName = typeof PERSONALITY_NAMES[number];

export const DEFAULT_PERSONALITY: PersonalityName = 'linux-5.4';

/**
 * The emulated Linux machine's established-hash size. alloc_large_system_hash("TCP established", …,
 * scale 17) gives one bucket per 128 KiB of low memory, rounded to a power of two; 262144 is what this
 * project's reference machine (Linux 6.18.44, 24 GiB) prints in dmesg ("TCP established hash table
 * entries: 262144") and shows as net.ipv4.tcp_ehash_entries. The formula has not changed since 4.x,
 * so all Linux presets emulate the same machine.
 */
export const LINUX_EHASH_ENTRIES = 262144;

/**
 * tcp_max_syn_backlog default: max(128, ehash_entries / 256) before 5.4, / 128 from 5.4
 * (tcp_sk_init in net/ipv4/tcp_ipv4.c; commit "tcp: increase tcp_max_syn_backlog max value", spec 2.3).
 * With 262144 buckets: 1024 for 4.14, 2048 from 5.4 (2048 is what the reference machine shows).
 */
function maxSynBacklog(divisor: number): DefaultSpec {
  return (ctx) => Math.max(128, Math.floor(ctx.int('wtcp.linux.ehash_entries') / divisor));
}

/** Linux 5.4 as released; the other Linux presets are deltas from it (spec 2.13). */
const LINUX_5_4: Readonly<Record<string, DefaultSpec>> = {
  'net.core.somaxconn': 4096,               // "net: increase SOMAXCONN to 4096" (5.4), spec 2.2
  'net.ipv4.tcp_syncookies': 1,
  'net.ipv4.tcp_abort_on_overflow': 0,
  'net.ipv4.tcp_synack_retries': 5,         // TCP_SYNACK_RETRIES
  'net.ipv4.tcp_max_syn_backlog': maxSynBacklog(128),
  'net.ipv4.ip_local_port_range': [32768, 60999],
  'net.ipv4.ip_unprivileged_port_start': 1024,
  'net.ipv4.tcp_timestamps': 1,
  'net.ipv4.tcp_sack': 1,
  'net.ipv4.tcp_window_scaling': 1,
  'net.ipv4.tcp_invalid_ratelimit': 500,    // HZ/2, in ms
  'net.ipv4.tcp_challenge_ack_limit': 1000, // 4.7 .. 5.19 (INT_MAX from 6.0)
  // tcp_rmem[1] = 131072 since 4.20 ("tcp: up initial rmem to 128KB and SYN rwin to around 64KB");
  // tcp_rmem[2] = 6 MiB on any machine with more than a few hundred MiB (tcp_init).
  'net.ipv4.tcp_rmem': [4096, 131072, 6291456],
  'net.ipv4.ip_default_ttl': 64,            // IPDEFTTL
  'wtcp.linux.ehash_entries': LINUX_EHASH_ENTRIES,
  'wtcp.linux.synq_full_gt': 0,
  'wtcp.linux.init_rwnd_segments': 0,
  'wtcp.linux.synrecv_rst_challenge': 0,
  'wtcp.linux.synrecv_tsecr_check': 0,
  'wtcp.linux.ack_bytes_acked_bound': 0,
  'wtcp.linux.old_ack_closing': 0,
  'wtcp.linux.ack_unsent_challenge': 0,
  'net.ipv4.tcp_syn_retries': 6,            // TCP_SYN_RETRIES
  'net.ipv4.tcp_syn_linear_timeouts': 0,    // no such sysctl before 6.5: exponential from the first retransmission
  'net.ipv4.tcp_congestion_control': 'cubic',                 // CONFIG_DEFAULT_TCP_CONG, cubic since 2.6.19
  'net.ipv4.tcp_available_congestion_control': 'reno cubic',  // registration order: reno is built in first
};

/** The 6.x deltas every 6.x preset shares (RFC 5961 handling in tcp_ack / tcp_send_challenge_ack, linear SYN timeouts). */
const LINUX_6_ACK: Readonly<Record<string, DefaultSpec>> = {
  'net.ipv4.tcp_challenge_ack_limit': 2147483647, // INT_MAX: global limit off (6.0)
  'wtcp.linux.ack_bytes_acked_bound': 1,          // 6.7
  'wtcp.linux.old_ack_closing': 1,                // 6.9
  'net.ipv4.tcp_syn_linear_timeouts': 4,          // 6.5
};

const FREEBSD_12_1: Readonly<Record<string, DefaultSpec>> = {
  'kern.ipc.soacceptqueue': 128,            // SOMAXCONN, spec 3.2
  'kern.ipc.maxsockbuf': 2 * 1024 * 1024,   // SB_MAX in sys/sockbuf.h
  'net.inet.tcp.syncookies': 1,
  'net.inet.tcp.syncookies_only': 0,
  'net.inet.tcp.syncache.rst_on_sock_fail': 1,
  'net.inet.tcp.syncache.rexmtlimit': 3,    // SYNCACHE_MAXREXMTS
  'net.inet.tcp.syncache.bucketlimit': 30,  // TCP_SYNCACHE_BUCKETLIMIT
  'net.inet.tcp.syncache.hashsize': 512,    // TCP_SYNCACHE_HASHSIZE
  // syncache_init: cache_limit = hashsize * bucket_limit unless the loader tunable is set (15360).
  // A real amd64 kernel may report a little more: uma_zone_set_max() rounds the zone limit up to
  // whole slabs and syncache_init stores the rounded figure. Not modelled [unverified].
  'net.inet.tcp.syncache.cachelimit': (ctx) =>
    ctx.int('net.inet.tcp.syncache.hashsize') * ctx.int('net.inet.tcp.syncache.bucketlimit'),
  'net.inet.tcp.drop_synfin': 0,
  'net.inet.tcp.insecure_rst': 0,
  // Spec 7.5: 12.1 most likely still used the 3 s TCPTV_RTOBASE for the syncache; the sysctl itself
  // (1000 ms default) arrived after 12.1. wtcp exposes it so both schedules can be reproduced.
  'net.inet.tcp.rexmit_initial': 3000,
  'net.inet.tcp.mssdflt': 536,              // TCP_MSS
  'net.inet.icmp.icmplim': 200,
  'net.inet.ip.portrange.first': 10000,     // IPPORT_EPHEMERALFIRST
  'net.inet.ip.portrange.last': 65535,      // IPPORT_EPHEMERALLAST
  'net.inet.tcp.rfc1323': 1,
  'net.inet.tcp.sack.enable': 1,
  'net.inet.tcp.recvspace': 65536,
  'net.inet.ip.ttl': 64,
  'net.inet.accf.http.parsehttpversion': 1,
  // CC_DEFAULT "newreno"; cc_cubic.ko is a module in 12.1 (kldload cc_cubic): wtcp has it loaded
  'net.inet.tcp.cc.algorithm': 'newreno',
  'net.inet.tcp.cc.available': 'newreno, cubic',   // cc_list_available: names joined by ", "
};

/**
 * 4.3BSD had no sysctl: these are the compile-time constants and patchable globals of the 1986
 * release (spec section 4), under wtcp.bsd43.*.
 */
const BSD43: Readonly<Record<string, DefaultSpec>> = {
  'wtcp.bsd43.somaxconn': 5,                // SOMAXCONN, sys/socket.h
  'wtcp.bsd43.ipport_reserved': 1024,       // IPPORT_RESERVED: first autobound port
  'wtcp.bsd43.ipport_userreserved': 5000,   // IPPORT_USERRESERVED: last autobound port
  'wtcp.bsd43.mss_local': 1024,             // tcp_mss() on the VAX reference: MTU-40 rounded to CLBYTES
  'wtcp.bsd43.tcp_mss': 512,                // TCP_MSS: t_maxseg until the peer's MSS option says more
  'wtcp.bsd43.recvspace': 4096,             // tcp_recvspace, tcp_usrreq.c
  'wtcp.bsd43.predictable_isn': 0,          // spec 5.3: RFC 6528 ISNs unless asked for the old counter
  'wtcp.bsd43.tcp_ttl': 30,                 // TCP_TTL in tcp_timer.h 6.7 ("longer TTL's"), kept for 7.1
};

/** Presets are shared by every stack: freeze them (and their default tables) against edits. */
function frozen(presets: Record<PersonalityName, Personality>): Readonly<Record<PersonalityName, Personality>> {
  for (const p of Object.values(presets)) {
    Object.freeze(p.defaults);
    Object.freeze(p);
  }
  return Object.freeze(presets);
}

export const PRESETS: Readonly<Record<PersonalityName, Personality>> = frozen({
  'linux-4.14': {
    name: 'linux-4.14',
    family: 'linux',
    description: 'Linux 4.14: somaxconn 128, SYN queue full at qlen >= backlog, no SYN-RECV challenge ACK',
    defaults: {
      ...LINUX_5_4,
      'net.core.somaxconn': 128,
      'net.ipv4.tcp_max_syn_backlog': maxSynBacklog(256),
      'net.ipv4.tcp_rmem': [4096, 87380, 6291456], // before 4.20
      'wtcp.linux.init_rwnd_segments': 20,        // tcp_default_init_rwnd, before 4.20
    },
  },
  'linux-5.4': {
    name: 'linux-5.4',
    family: 'linux',
    description: 'Linux 5.4 (default): somaxconn 4096, SYN queue full at qlen >= backlog',
    defaults: LINUX_5_4,
  },
  'linux-6.13': {
    name: 'linux-6.13',
    family: 'linux',
    description: 'Linux 6.13: SYN queue full only at qlen > backlog (listen(fd, 0) completes normally)',
    defaults: { ...LINUX_5_4, ...LINUX_6_ACK, 'wtcp.linux.synq_full_gt': 1 },
  },
  'linux-6.18': {
    name: 'linux-6.18',
    family: 'linux',
    description:
      'Linux 6.18 (this machine): as 6.13 plus the SYN-RECV challenge ACK for non-exact RSTs and the ' +
      'third-ACK TSecr check',
    defaults: {
      ...LINUX_5_4,
      ...LINUX_6_ACK,
      'wtcp.linux.ack_unsent_challenge': 1,  // 6.18.38+ stable: challenge ACK for SEG.ACK > SND.NXT
      'wtcp.linux.synq_full_gt': 1,
      'wtcp.linux.synrecv_rst_challenge': 1, // spec "Observed on … Linux 6.18.44" item 1
      'wtcp.linux.synrecv_tsecr_check': 1,   // same section, item 3 (6.15+)
      // "tcp: increase tcp_rmem[2] to 32 MB" (6.16); read on the reference machine, which also
      // offers window scale 10 (ilog2(32 MiB) - 15) on its SYN-ACKs.
      'net.ipv4.tcp_rmem': [4096, 131072, 33554432],
    },
  },
  'freebsd-12.1': {
    name: 'freebsd-12.1',
    family: 'freebsd',
    description: 'FreeBSD 12.1: syncache and syncookies, accept queue of floor(3b/2)+1, RST on overflow',
    defaults: FREEBSD_12_1,
  },
  '4.3bsd': {
    name: '4.3bsd',
    family: 'bsd43',
    description: '4.3BSD (1986): SOMAXCONN 5, embryos and completed connections share floor(3b/2)+1',
    defaults: BSD43,
  },
});

/**
 * Family names accepted as shorthand for their reference preset (the spec calls the personalities
 * `linux`, `freebsd` and `4.3bsd`).
 */
const FAMILY_SHORTHANDS: Readonly<Record<string, PersonalityName>> = {
  linux: 'linux-5.4',
  freebsd: 'freebsd-12.1',
};

export function isPersonalityName(name: string): name is PersonalityName {
  return (PERSONALITY_NAMES as readonly string[]).includes(name);
}

/**
 * The preset called `name` ('linux' and 'freebsd' stand for linux-5.4 and freebsd-12.1).
 * Unknown names throw an Error (code 'EINVAL') that lists the valid ones.
 */
export function resolvePersonality(name: string): Personality {
  if (isPersonalityName(name)) return PRESETS[name];
  const shorthand = Object.prototype.hasOwnProperty.call(FAMILY_SHORTHANDS, name)
    ? FAMILY_SHORTHANDS[name]
    : undefined;
  if (shorthand !== undefined) return PRESETS[shorthand];
  const err = new Error(
    `unknown personality ${JSON.stringify(name)}; valid names: ${PERSONALITY_NAMES.join(', ')}` +
      ` (or 'linux' for ${FAMILY_SHORTHANDS.linux}, 'freebsd' for ${FAMILY_SHORTHANDS.freebsd})`,
  ) as Error & { code: string };
  err.code = 'EINVAL';
  throw err;
}
