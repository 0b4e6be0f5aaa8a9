export * from './core-abi.js';
export type { Link, RecordLink, FrameRecordHandler } from './links/link.js';

export { Stack, DEFAULT_LIMITS, MAX_INTERFACES, RX_CHUNK_BYTES, formatSsListeners, formatNetstatListeners, synFloodMessage } from './stack.js';
export type { StackOptions, StackLimits, InterfaceOptions, InterfaceInfo, ListenerInfo, SynFloodEvent, LogEvent } from './stack.js';
export { BsdSockets, secsToRetrans, retransToSecs } from './bsd.js';
export type {
  SockAddr, AcceptResult, AcceptFilterArg, SockOptValue, SockOptLevel, SockOptName, SocketDomain, SocketType, SocketProtocol,
} from './bsd.js';
export { SocketError, ERRNO_NAMES, errnoNumber, errnoName, strerror } from './errno.js';
export type { ErrnoName, ErrnoFamily } from './errno.js';
export { RealClock, VirtualClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
export { MemoryLink, MemoryHub } from './links/memory.js';
export type { MemoryLinkOptions, MemoryDelivery } from './links/memory.js';
export { Core, CoreAbortError, getCoreModule, loadCoreModule, setCoreModule } from './core.js';
export type { CoreOptions, CoreVariant } from './core.js';
export { parseIPv4, formatIPv4, parseCidr, parseMac, formatMac, macFromIp, isIPv4, isMac } from './addr.js';
export { Sysctls, SysctlError } from './sysctl.js';
export { PRESETS, PERSONALITY_NAMES, DEFAULT_PERSONALITY, resolvePersonality } from './personalities.js';
export type { PersonalityName, Personality, FamilyName } from './personalities.js';
export { Peer, TcpFlow } from './testing/peer.js';
export type { PeerOptions, SegmentTemplate, SegmentMatch, ReceivedSegment, ExpectOptions } from './testing/peer.js';
// TapLink (Node on Linux, native addon) is a separate entry point: import it from 'wtcp/tap'.
export { FaultLink, Sfc32 } from './links/fault.js';
export { PcapLink, PcapWriter } from './links/pcap.js';
// capturePcapFile / PcapFileWriter (Node only) come from 'wtcp/pcap-file'.
export { WebSocketLink } from './links/websocket.js';
export type { WebSocketLinkOptions, WebSocketLike, WebSocketConstructor, WebSocketFraming, WebSocketLinkState, WebSocketLinkStats, ReconnectOptions } from './links/websocket.js';
export { V86Link } from './links/v86.js';
export type { V86LinkOptions, V86Target } from './links/v86.js';
export { LearningSwitch } from './links/switch.js';
export type { SwitchStats } from './links/switch.js';
export { encodeLengthPrefixed, LengthPrefixedDecoder } from './links/framing.js';
