// The WebAssembly core's exports: every call the host makes. Functions over i32 handles and
// pointers into this instance's memory; the host side is src/core.ts.
//
// Call order: init() once, setKnob()/ifaceSet() as configured, then any number of
// input()/poll() calls with the current time (ms since the stack's epoch, wrapping u32).
// After each input()/poll() the host drains the output area (frames to send) and the event ring.
//
// Frame records in the input and output areas: [u16 length][u16 interface][bytes][pad to 4].
// Event records: three u32 words [type, a, b].
export * from './test-exports';

export {
  init, setKnob, getKnob, ifaceSet, counterPtr,
  inputPtr, inputCap, outputPtr, outputLen, outputCount, outputReset,
  eventsPtr, eventsCount, eventsReset, scratchPtr, scratchCap,
  input, poll, nextTimer, memoryBytes, rxAreaInit, rxAreaSize, inputRx,
} from './stack';
export {
  listenerOpen, listenerSetBacklog, listenerClose, listenerSet, listenerGet, listenerAccept,
  portUsage,
} from './tcp/listener';
export { connGet, connRead, connClose, connAbort, connWrite, connShutdown, connSetOpt, connGetOpt } from './tcp/conn';
export { connConnect } from './tcp/connect';
export { connCcInfo, outputBlocked, outputResume } from './tcp/send';
