/**
 * A link carries raw Ethernet II frames (no preamble, no FCS) between a stack and something else:
 * another stack in memory, a TAP device, a WebSocket relay. Links compose: pcap capture and fault
 * injection wrap any link.
 *
 * Contract:
 * - `send(frame)` transmits one frame. The link must copy or finish with `frame` before it returns:
 *   the caller may reuse the memory behind the view (it is often a view into WASM memory).
 * - `onReceive(handler)` installs the single receiver. The frame view passed to the handler is only
 *   valid during the call (it may be a view into a reused read buffer).
 * - `close()` releases the link; no frames are delivered after it resolves.
 */
export interface Link {
  /** largest frame payload (IP packet) the link carries; an Ethernet link says 1500 */
  readonly mtu: number;
  send(frame: Uint8Array): void;
  onReceive(handler: ((frame: Uint8Array) => void) | null): void;
  close(): void | Promise<void>;
}
