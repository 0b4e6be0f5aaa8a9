// Ethernet II input: is the frame for us, and which protocol. Calls net/arp.ts and net/ip.ts.
// Frames are raw Ethernet II without FCS, as TAP devices and v86-style relays carry them.
import { count } from '../stack';
import { C_MALFORMED, C_NOT_FOR_US } from '../abi';
import { rd16 } from '../wire/bytes';
import { ifaceUp, ifaceMacHi, ifaceMacLo } from './iface';
import { arpInput } from './arp';
import { ipInput } from './ip';

@inline export const ETH_HDR: i32 = 14;
@inline const ETH_SRC_OFF: usize = 6;
@inline const ETH_TYPE_OFF: usize = 12;
@inline export const ETHERTYPE_IPV4: u32 = 0x0800;
@inline export const ETHERTYPE_ARP: u32 = 0x0806;

export function linkInput(iface: i32, p: usize, len: i32): void {
  if (!ifaceUp(iface) || len < ETH_HDR) { count(C_MALFORMED); return; }
  // destination: ours, broadcast, or (for IPv4 multicast) a multicast MAC
  const d0 = <u32>load<u8>(p);
  const dHi = (d0 << 8) | <u32>load<u8>(p + 1);
  const dLo = bswap<u32>(load<u32>(p + 2));
  const ours = dHi == ifaceMacHi(iface) && dLo == ifaceMacLo(iface);
  const bcast = dHi == 0xFFFF && dLo == 0xFFFFFFFF;
  if (!ours && !bcast && (d0 & 1) == 0) { count(C_NOT_FOR_US); return; }
  // a group address is never a valid source (IEEE 802.3 §3.2.3); nothing may be learned from it
  if ((load<u8>(p + ETH_SRC_OFF) & 1) != 0) { count(C_MALFORMED); return; }
  const type = rd16(p + ETH_TYPE_OFF);
  if (type == ETHERTYPE_IPV4) ipInput(iface, p + ETH_HDR, len - ETH_HDR, !ours);
  else if (type == ETHERTYPE_ARP) arpInput(iface, p, len);
  else count(C_NOT_FOR_US); // another protocol (IPv6, VLAN-tagged, ...): not for this stack
}
