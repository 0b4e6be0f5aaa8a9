// FreeBSD accept filters: when has a connection on the incomplete queue met its criterion?
// accf_data ("dataready", sys/netinet/accf_data.c) and accf_http ("httpready", accf_http.c).
// Called by conn.ts whenever a filter-pending connection gets data or a FIN.
import { scratchPtr } from '../stack';
import { cFlags, cRxLen, CF_EOF, CF_DEAD, rxPeek } from './conn';

@inline const ACCF_DATA: i32 = 1;
@inline const ACCF_HTTP: i32 = 2;
@inline const ACCF_DNS: i32 = 3;
/** how much of the buffer httpready looks at; a full receive buffer also releases (sbspace == 0) */
@inline const HTTP_SCAN: i32 = 16384;

export function accfReady(c: i32, filter: i32): bool {
  const f = unchecked(cFlags[c]);
  // soreadable(): data, FIN or an error
  if ((f & (CF_EOF | CF_DEAD)) != 0) return true;
  const n = unchecked(cRxLen[c]);
  if (filter == ACCF_DATA) return n > 0;
  if (filter == ACCF_DNS) {
    // accf_dns (sys/netinet/accf_dns.c): a whole DNS-over-TCP query, i.e. the 2-byte length and that many bytes
    if (n < 2) return false;
    const p = scratchPtr();
    rxPeek(c, p, 2);
    return n - 2 >= <i32>((at(p, 0) << 8) | at(p, 1));
  }
  if (filter != ACCF_HTTP) return true;
  if (n >= HTTP_SCAN) return true;
  const p = scratchPtr();
  const len = rxPeek(c, p, n);
  return httpReady(p, len);
}

@inline function at(p: usize, i: i32): u32 { return <u32>load<u8>(p + <usize>i); }

/**
 * sohashttpget: "GET " or "HEAD " must start the request, else it is released at once; then
 * soparsehttpvers: HTTP/1.0 and HTTP/1.1 requests wait for the end of their headers, anything else
 * (HTTP/0.9 with a CR/LF before the version) is released; soishttpconnected: the buffer ends in
 * LF LF or LF CR LF.
 */
function httpReady(p: usize, len: i32): bool {
  if (len < 2) return false;
  let method = 0;
  if (at(p, 0) == 0x47) method = 4;        // "GET "
  else if (at(p, 0) == 0x48) method = 5;   // "HEAD "
  else return true;
  const word = method == 4 ? "GET " : "HEAD ";
  const cmp = len < method ? len : method;
  for (let i = 1; i < cmp; i++) if (at(p, i) != <u32>word.charCodeAt(i)) return true;
  if (len < method) return false;          // a partial method: wait
  // find the second space (end of the URI), noting CR/LF before it
  let i = method;
  while (i < len && at(p, i) != 0x20) {
    if (at(p, i) == 0x0D || at(p, i) == 0x0A) return true; // HTTP/0.9
    i++;
  }
  if (i >= len) return false;
  i++;
  // need "HTTP/1.0" or "HTTP/1.1" followed by CR or LF to wait for headers
  if (len - i < 9) return false;
  const v = "HTTP/1.";
  for (let k = 0; k < 7; k++) if (at(p, i + k) != <u32>v.charCodeAt(k)) return true;
  const minor = at(p, i + 7);
  if (minor != 0x30 && minor != 0x31) return true;
  const term = at(p, i + 8);
  if (term != 0x0D && term != 0x0A) return true;
  // soishttpconnected: the last bytes are "\n\n" or "\n\r\n"
  if (len >= 2 && at(p, len - 1) == 0x0A && at(p, len - 2) == 0x0A) return true;
  if (len >= 3 && at(p, len - 1) == 0x0A && at(p, len - 2) == 0x0D && at(p, len - 3) == 0x0A) return true;
  return false;
}
