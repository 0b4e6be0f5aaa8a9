/**
 * errno names, numbers and messages per personality family, and the error the BSD socket layer
 * throws (SocketError).
 *
 * Who uses it: src/bsd.ts raises SocketError with the errno *name*; the number comes from the
 * family's table (Linux numbering for `linux`, FreeBSD numbering for `freebsd` and `4.3bsd`, which
 * share <sys/errno.h> values for everything the socket layer can return). The core reports errors
 * with Linux numbers (assembly/abi.ts E_*); `errnoNameFromLinux` turns them back into names.
 *
 * Messages are the C library's strerror() texts of each system: glibc for Linux, FreeBSD libc for
 * the BSDs (4.3BSD's own texts are close to FreeBSD's and are not reproduced separately).
 */

/** The family of errno numbering and strerror texts. */
export type ErrnoFamily = 'linux' | 'bsd';

/** Every errno name the stack can produce. */
export type ErrnoName =
  | 'EPERM' | 'ENOENT' | 'EINTR' | 'EIO' | 'EBADF' | 'EAGAIN' | 'ENOMEM' | 'EACCES' | 'EFAULT'
  | 'EINVAL' | 'ENFILE' | 'EMFILE' | 'EPIPE' | 'ENOSYS'
  | 'ENOTSOCK' | 'EDESTADDRREQ' | 'EMSGSIZE' | 'EPROTOTYPE' | 'ENOPROTOOPT' | 'EPROTONOSUPPORT'
  | 'ESOCKTNOSUPPORT' | 'EOPNOTSUPP' | 'EPFNOSUPPORT' | 'EAFNOSUPPORT' | 'EADDRINUSE'
  | 'EADDRNOTAVAIL' | 'ENETDOWN' | 'ENETUNREACH' | 'ENETRESET' | 'ECONNABORTED' | 'ECONNRESET'
  | 'ENOBUFS' | 'EISCONN' | 'ENOTCONN' | 'ESHUTDOWN' | 'ETIMEDOUT' | 'ECONNREFUSED'
  | 'EHOSTUNREACH' | 'EALREADY' | 'EINPROGRESS';

interface ErrnoInfo {
  readonly linux: number;
  readonly bsd: number;
  readonly linuxText: string;
  readonly bsdText: string;
}

/**
 * Numbers: Linux include/uapi/asm-generic/errno-base.h + errno.h; FreeBSD sys/sys/errno.h (4.3BSD's
 * sys/h/errno.h has the same values for all of these). Texts: glibc sysdeps/gnu/errlist.h and
 * FreeBSD lib/libc/gen/errlst.c.
 */
const TABLE: { readonly [K in ErrnoName]: ErrnoInfo } = {
  EPERM: { linux: 1, bsd: 1, linuxText: 'Operation not permitted', bsdText: 'Operation not permitted' },
  ENOENT: { linux: 2, bsd: 2, linuxText: 'No such file or directory', bsdText: 'No such file or directory' },
  EINTR: { linux: 4, bsd: 4, linuxText: 'Interrupted system call', bsdText: 'Interrupted system call' },
  EIO: { linux: 5, bsd: 5, linuxText: 'Input/output error', bsdText: 'Input/output error' },
  EBADF: { linux: 9, bsd: 9, linuxText: 'Bad file descriptor', bsdText: 'Bad file descriptor' },
  EAGAIN: { linux: 11, bsd: 35, linuxText: 'Resource temporarily unavailable', bsdText: 'Resource temporarily unavailable' },
  ENOMEM: { linux: 12, bsd: 12, linuxText: 'Cannot allocate memory', bsdText: 'Cannot allocate memory' },
  EACCES: { linux: 13, bsd: 13, linuxText: 'Permission denied', bsdText: 'Permission denied' },
  EFAULT: { linux: 14, bsd: 14, linuxText: 'Bad address', bsdText: 'Bad address' },
  EINVAL: { linux: 22, bsd: 22, linuxText: 'Invalid argument', bsdText: 'Invalid argument' },
  ENFILE: { linux: 23, bsd: 23, linuxText: 'Too many open files in system', bsdText: 'Too many open files in system' },
  EMFILE: { linux: 24, bsd: 24, linuxText: 'Too many open files', bsdText: 'Too many open files' },
  EPIPE: { linux: 32, bsd: 32, linuxText: 'Broken pipe', bsdText: 'Broken pipe' },
  ENOSYS: { linux: 38, bsd: 78, linuxText: 'Function not implemented', bsdText: 'Function not implemented' },
  ENOTSOCK: { linux: 88, bsd: 38, linuxText: 'Socket operation on non-socket', bsdText: 'Socket operation on non-socket' },
  EDESTADDRREQ: { linux: 89, bsd: 39, linuxText: 'Destination address required', bsdText: 'Destination address required' },
  EMSGSIZE: { linux: 90, bsd: 40, linuxText: 'Message too long', bsdText: 'Message too long' },
  EPROTOTYPE: { linux: 91, bsd: 41, linuxText: 'Protocol wrong type for socket', bsdText: 'Protocol wrong type for socket' },
  ENOPROTOOPT: { linux: 92, bsd: 42, linuxText: 'Protocol not available', bsdText: 'Protocol not available' },
  EPROTONOSUPPORT: { linux: 93, bsd: 43, linuxText: 'Protocol not supported', bsdText: 'Protocol not supported' },
  ESOCKTNOSUPPORT: { linux: 94, bsd: 44, linuxText: 'Socket type not supported', bsdText: 'Socket type not supported' },
  EOPNOTSUPP: { linux: 95, bsd: 45, linuxText: 'Operation not supported', bsdText: 'Operation not supported' },
  EPFNOSUPPORT: { linux: 96, bsd: 46, linuxText: 'Protocol family not supported', bsdText: 'Protocol family not supported' },
  EAFNOSUPPORT: { linux: 97, bsd: 47, linuxText: 'Address family not supported by protocol', bsdText: 'Address family not supported by protocol family' },
  EADDRINUSE: { linux: 98, bsd: 48, linuxText: 'Address already in use', bsdText: 'Address already in use' },
  EADDRNOTAVAIL: { linux: 99, bsd: 49, linuxText: 'Cannot assign requested address', bsdText: "Can't assign requested address" },
  ENETDOWN: { linux: 100, bsd: 50, linuxText: 'Network is down', bsdText: 'Network is down' },
  ENETUNREACH: { linux: 101, bsd: 51, linuxText: 'Network is unreachable', bsdText: 'Network is unreachable' },
  ENETRESET: { linux: 102, bsd: 52, linuxText: 'Network dropped connection on reset', bsdText: 'Network dropped connection on reset' },
  ECONNABORTED: { linux: 103, bsd: 53, linuxText: 'Software caused connection abort', bsdText: 'Software caused connection abort' },
  ECONNRESET: { linux: 104, bsd: 54, linuxText: 'Connection reset by peer', bsdText: 'Connection reset by peer' },
  ENOBUFS: { linux: 105, bsd: 55, linuxText: 'No buffer space available', bsdText: 'No buffer space available' },
  EISCONN: { linux: 106, bsd: 56, linuxText: 'Transport endpoint is already connected', bsdText: 'Socket is already connected' },
  ENOTCONN: { linux: 107, bsd: 57, linuxText: 'Transport endpoint is not connected', bsdText: 'Socket is not connected' },
  ESHUTDOWN: { linux: 108, bsd: 58, linuxText: 'Cannot send after transport endpoint shutdown', bsdText: "Can't send after socket shutdown" },
  ETIMEDOUT: { linux: 110, bsd: 60, linuxText: 'Connection timed out', bsdText: 'Operation timed out' },
  ECONNREFUSED: { linux: 111, bsd: 61, linuxText: 'Connection refused', bsdText: 'Connection refused' },
  EHOSTUNREACH: { linux: 113, bsd: 65, linuxText: 'No route to host', bsdText: 'No route to host' },
  EALREADY: { linux: 114, bsd: 37, linuxText: 'Operation already in progress', bsdText: 'Operation already in progress' },
  EINPROGRESS: { linux: 115, bsd: 36, linuxText: 'Operation now in progress', bsdText: 'Operation now in progress' },
};

/** All errno names known here. */
export const ERRNO_NAMES = Object.keys(TABLE) as ErrnoName[];

const LINUX_TO_NAME = new Map<number, ErrnoName>(ERRNO_NAMES.map((n) => [TABLE[n].linux, n]));

/** The errno number of `name` in `family`'s numbering. */
export function errnoNumber(family: ErrnoFamily, name: ErrnoName): number {
  return family === 'linux' ? TABLE[name].linux : TABLE[name].bsd;
}

/** strerror(name) on `family`'s C library. */
export function strerror(family: ErrnoFamily, name: ErrnoName): string {
  return family === 'linux' ? TABLE[name].linuxText : TABLE[name].bsdText;
}

/**
 * The name of a Linux errno number, as the core reports errors (assembly/abi.ts E_*); accepts the
 * negative form the core's functions return. undefined for numbers not in the table.
 */
export function errnoNameFromLinux(errno: number): ErrnoName | undefined {
  return LINUX_TO_NAME.get(Math.abs(errno));
}

const NUMBER_TO_NAME: Record<ErrnoFamily, Map<number, ErrnoName>> = {
  linux: LINUX_TO_NAME,
  bsd: new Map<number, ErrnoName>(ERRNO_NAMES.map((n) => [TABLE[n].bsd, n])),
};

/** The name of an errno number in `family`'s numbering (the negative form too), or undefined. */
export function errnoName(family: ErrnoFamily, errno: number): ErrnoName | undefined {
  return NUMBER_TO_NAME[family].get(Math.abs(errno));
}

/** The errno numbering a personality family uses (4.3BSD numbers like FreeBSD). */
export function errnoFamilyOf(family: 'linux' | 'freebsd' | 'bsd43'): ErrnoFamily {
  return family === 'linux' ? 'linux' : 'bsd';
}

/**
 * The error the BSD socket layer throws (and rejects promises with): `code` is the errno name of the
 * man pages, `errno` its number in the personality's numbering, `syscall` the call that failed.
 * Shaped like Node's system errors (`code`, `errno`, `syscall`, and `address`/`port` where a socket
 * address is involved).
 *
 * message: "listen: EOPNOTSUPP: operation not supported on a SOCK_DGRAM socket" — the call, the
 * name, then the rule's own explanation (or strerror's text when the rule has none).
 */
export class SocketError extends Error {
  readonly code: ErrnoName;
  readonly errno: number;
  readonly syscall: string;
  readonly address?: string;
  readonly port?: number;

  constructor(
    family: ErrnoFamily,
    syscall: string,
    code: ErrnoName,
    detail?: string,
    where?: { address?: string; port?: number },
  ) {
    super(`${syscall}: ${code}: ${detail ?? strerror(family, code)}`);
    this.name = 'SocketError';
    this.code = code;
    this.errno = errnoNumber(family, code);
    this.syscall = syscall;
    if (where?.address !== undefined) this.address = where.address;
    if (where?.port !== undefined) this.port = where.port;
  }
}
