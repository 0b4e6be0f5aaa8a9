/**
 * The contract between the TypeScript host and the WebAssembly core: knob ids (the core's view of
 * the sysctls), counter ids and names, and enums that cross the boundary. assembly/abi.ts mirrors
 * this file number for number; test/unit/abi.test.ts checks that the two agree.
 */

/** Congestion-control algorithms (knob tcp_cc_default, ConnOpt.Congestion). */
export const enum CcAlgo { Reno = 0, Cubic = 1 }

/** Personality families the core branches on. */
export const enum Family { Linux = 0, FreeBSD = 1, BSD43 = 2 }

/**
 * Knobs: every tunable the core reads, set per stack through `setKnob(id, value)`.
 * The host maps the OS's own sysctl spellings onto these (src/sysctl.ts).
 */
export const KNOBS = [
  'family',               // Family
  // --- linux (net.ipv4.*) ---
  'tcp_syncookies',       // 0, 1, 2
  'tcp_abort_on_overflow',
  'tcp_synack_retries',
  'tcp_max_syn_backlog',
  'synq_full_gt',         // 0: qlen >= backlog is full (4.4..6.12); 1: qlen > backlog (6.13+)
  'synrecv_rst_challenge',// 1: non-exact in-window RST in SYN-RECEIVED gets a challenge ACK
  'synrecv_tsecr_check',  // 1: third ACK's TSecr must echo one of the SYN-ACK TSvals (6.15+)
  'tcp_timestamps',       // 0, 1 (random offset per address pair), 2 (no offset)
  'tcp_sack',
  'tcp_window_scaling',
  'tcp_invalid_ratelimit',// ms
  'tcp_rmem_default',     // initial receive window source (bytes)
  // --- freebsd (net.inet.tcp.*) ---
  'fb_syncookies',
  'fb_syncookies_only',
  'fb_rst_on_sock_fail',
  'fb_drop_synfin',
  'fb_insecure_rst',
  'fb_rexmtlimit',
  'fb_rexmit_initial',    // ms: base of the syncache SYN-ACK retransmit schedule
  'fb_bucketlimit',
  'fb_cachelimit',
  'fb_icmplim',           // RSTs per second (net.inet.icmp.icmplim), 0 = unlimited
  'fb_rfc1323',
  'fb_sack',
  'fb_recvspace',         // net.inet.tcp.recvspace
  // --- 4.3bsd ---
  'b43_mss_local',        // MSS offered to peers on a local subnet (1024 on the VAX reference)
  'b43_recvspace',        // tcp_recvspace (4096)
  'b43_predictable_isn',  // 1: the historical global ISS counter
  // --- shared ---
  'ip_default_ttl',
  'rcv_wscale',           // our window-scale shift when scaling is negotiated
  'mss_default',          // MSS assumed when the peer sends none (536)
  // --- linux, added later ---
  'linux_init_rwnd',      // segments the SYN-ACK window is capped to (tcp_default_init_rwnd before 4.20: 20), 0 = none
  // --- linux, RFC 5961 (issue 3) ---
  'tcp_challenge_ack_limit', // challenge ACKs per second per stack (net.ipv4.tcp_challenge_ack_limit); INT_MAX = no limit
  'ack_bytes_acked_bound',   // 1: the SND.UNA - MAX.SND.WND bound is capped by the bytes acknowledged so far (6.7+)
  'old_ack_closing',         // 1: an old ACK is accepted outside ESTABLISHED too (6.9+); 0: challenge ACK, drop
  'ack_unsent_challenge',    // 1: SEG.ACK > SND.NXT in ESTABLISHED draws a challenge ACK (2026 fix); 0: silent drop
  // --- shared, added later ---
  'link_mtu',             // IP MTU of the links (the MSS we offer is this less 40); 0 = 1500; at most 65521
  // --- congestion control (issue 3) ---
  'tcp_cc_default',       // CcAlgo of new connections: tcp_congestion_control / net.inet.tcp.cc.algorithm
  // --- linux active open ---
  'tcp_syn_retries',      // SYN retransmissions before connect() fails (net.ipv4.tcp_syn_retries; TCP_SYNCNT per socket)
  'tcp_syn_linear_timeouts', // the first N SYN retransmissions wait the initial RTO, not doubling (6.5+; 0 before)
] as const;
export type KnobName = typeof KNOBS[number];
export const KNOB: { [K in KnobName]: number } = Object.fromEntries(KNOBS.map((k, i) => [k, i])) as never;

/**
 * Counters, in core order. Names are Linux nstat names (group prefix + name) where Linux has one,
 * FreeBSD's `netstat -s` syncache names (TcpSc*) for its syncache, Wtcp* for the stack's own.
 */
export const COUNTERS = [
  // Ip
  'IpInReceives', 'IpInHdrErrors', 'IpInAddrErrors', 'IpInUnknownProtos', 'IpInDiscards',
  'IpInDelivers', 'IpOutRequests', 'IpOutNoRoutes', 'IpReasmReqds', 'IpReasmFails',
  // Icmp
  'IcmpInMsgs', 'IcmpInErrors', 'IcmpInCsumErrors', 'IcmpInEchos', 'IcmpOutMsgs', 'IcmpOutEchoReps',
  // Tcp
  'TcpActiveOpens', 'TcpPassiveOpens', 'TcpAttemptFails', 'TcpEstabResets', 'TcpCurrEstab',
  'TcpInSegs', 'TcpOutSegs', 'TcpRetransSegs', 'TcpInErrs', 'TcpOutRsts', 'TcpInCsumErrors',
  // TcpExt
  'TcpExtSyncookiesSent', 'TcpExtSyncookiesRecv', 'TcpExtSyncookiesFailed', 'TcpExtEmbryonicRsts',
  'TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpExtTCPReqQFullDoCookies', 'TcpExtTCPReqQFullDrop',
  'TcpExtTCPTimeouts', 'TcpExtTSEcrRejected', 'TcpExtTCPChallengeACK', 'TcpExtTCPDeferAcceptDrop',
  'TcpExtPAWSActive', 'TcpExtTCPACKSkippedSynRecv', 'TcpExtTCPAbortOnClose',
  // FreeBSD syncache (netstat -s -p tcp)
  'TcpScAdded', 'TcpScRetransmitted', 'TcpScDupSyn', 'TcpScDropped', 'TcpScCompleted',
  'TcpScBucketOverflow', 'TcpScCacheOverflow', 'TcpScReset', 'TcpScStale', 'TcpScAborted',
  'TcpScBadAck', 'TcpScUnreach', 'TcpScZoneFail', 'TcpScSendCookie', 'TcpScRecvCookie',
  'TcpRcvBadSyn', 'TcpAccFiltDrops',
  // the stack's own
  'WtcpInFrames', 'WtcpOutFrames', 'WtcpMalformed', 'WtcpNotForUs', 'WtcpArpIn', 'WtcpArpOut',
  'WtcpArpReplies', 'WtcpArpUnresolved', 'WtcpArpQueueDrops', 'WtcpOutOverflow', 'WtcpNoMemory',
  'WtcpRstRateLimited',
  // added with the data path (issue 3)
  'TcpExtPAWSEstab',
  // RFC 5961 and the out-of-window rate limits (issue 3)
  'TcpExtTCPACKSkippedChallenge', 'TcpExtTCPACKSkippedSeq', 'TcpExtTCPACKSkippedPAWS',
  'TcpExtTCPSYNChallenge', 'TcpRcvAckTooMuch', 'TcpExtTCPACKSkippedTimeWait',
  // loss recovery (issue 3): fast recoveries without and with SACK, reneging seen, retransmissions
  // in fast recovery and after a timeout; connections that found no scoreboard slot fall back to NewReno
  'TcpExtTCPRenoRecovery', 'TcpExtTCPSackRecovery', 'TcpExtTCPSACKReneging', 'TcpExtTCPFastRetrans',
  'TcpExtTCPSlowStartRetrans', 'WtcpSackNoScoreboard',
] as const;
export type CounterName = typeof COUNTERS[number];

/** Per-listener fields readable through `listenerInfo(idx, field)`. */
export const enum ListenerField {
  State = 0, AcceptQueue = 1, SynQueue = 2, IncompleteQueue = 3, Backlog = 4, Port = 5, Addr = 6,
  Overflows = 7, Drops = 8,
}

/** Events the core posts for the host, read from the event ring. */
export const enum CoreEvent {
  /** a listener's accept queue went from empty to non-empty (arg: listener) */
  AcceptReady = 1,
  /** a connection has data or EOF to read (arg: conn) */
  Readable = 2,
  /** a connection was reset or timed out (arg: conn, arg2: errno code) */
  ConnError = 3,
  /** "Possible SYN flooding on port P. Sending cookies." / "Dropping request" (arg: port, arg2: 1 cookies, 0 drop) */
  SynFloodWarning = 4,
  /** a connection is fully closed and its handle is free (arg: conn) */
  ConnClosed = 5,
  /** an active open completed: ESTABLISHED, writable (arg: conn) */
  Connected = 6,
  /** send-buffer space freed after a short write (arg: conn) */
  Writable = 7,
}
