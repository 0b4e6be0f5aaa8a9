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

/**
 * Frames as a batch of records, in the layout of the core's input and output areas: each record is
 * `[u16 frame length, little-endian][u16 reserved][the frame][0-3 bytes of padding to a multiple of
 * 4]`, `count` records back to back in `data[start, end)`. A receiver ignores the reserved field (a
 * Stack writes its own interface index there).
 */
export type FrameRecordHandler = (data: Uint8Array, start: number, end: number, count: number) => void;

/**
 * Optional batch methods of a link (MemoryLink has them): a Stack that finds them moves its output
 * area's records with one copy per batch, and takes received batches straight into its input area,
 * instead of one call (and one copy) per frame. Same rules as `send` / `onReceive`: `sendRecords`
 * copies before it returns; the records given to the handler are valid only during the call; while a
 * records handler is installed, the `onReceive` handler is not called.
 */
export interface RecordLink extends Link {
  sendRecords(data: Uint8Array, start: number, end: number, count: number): void;
  /**
   * `take`, optional: a receiver that can copy records in at once, while the sender's call runs, and
   * process them later (after that call has returned, as with any delivery). It returns where it
   * stopped in `data` (`end` when it took everything; only whole records); the link delivers the rest
   * through `handler` as usual. A link may use it while nothing else is waiting for that receiver, to
   * save the copy into its own queue.
   */
  onReceiveRecords(handler: FrameRecordHandler | null, take?: FrameRecordTaker): void;
}

/** See RecordLink.onReceiveRecords: takes what it can of a batch now; returns the offset it stopped at. */
export type FrameRecordTaker = (data: Uint8Array, start: number, end: number, count: number) => number;

/** The size of the record that carries a frame of `len` bytes. */
export function recordSize(len: number): number {
  return (4 + len + 3) & ~3;
}

/** The number of whole records in data[p, end). */
export function countRecords(data: Uint8Array, p: number, end: number): number {
  let n = 0;
  while (p + 4 <= end) {
    const rec = recordSize((data[p] as number) | ((data[p + 1] as number) << 8));
    if (p + rec > end) break;
    p += rec;
    n++;
  }
  return n;
}

/** Whether `link` can send batches of records. */
export function canSendRecords(link: Link): link is Link & Pick<RecordLink, 'sendRecords'> {
  return typeof (link as Partial<RecordLink>).sendRecords === 'function';
}

/** Whether `link` can deliver batches of records. */
export function canReceiveRecords(link: Link): link is Link & Pick<RecordLink, 'onReceiveRecords'> {
  return typeof (link as Partial<RecordLink>).onReceiveRecords === 'function';
}
