/**
 * The sysctl registry and the personality presets: defaults per preset, validation as each OS's
 * handler does it (or as wtcp documents it differs), aliases, runtime vs creation-only access, and
 * the knob values handed to the core.
 */
import { describe, it, expect } from 'vitest';
import { KNOB, KNOBS, type KnobName } from '../../src/core-abi.js';
import {
  DEFAULT_PERSONALITY,
  PERSONALITY_NAMES,
  PRESETS,
  SYSCTLS,
  Sysctls,
  SysctlError,
  freebsdRcvWscale,
  knobSources,
  linuxRcvWscale,
  resolvePersonality,
  sysctlDefinitions,
  type FamilyName,
  type SysctlChange,
  type SysctlInput,
} from '../../src/sysctl.js';

/** Run `fn`, expect a SysctlError with `code`, return it for further checks. */
function expectError(fn: () => unknown, code: 'ENOENT' | 'EINVAL' | 'EPERM'): SysctlError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SysctlError);
    const err = e as SysctlError;
    expect(err.code).toBe(code);
    expect(err.errno).toBe({ EPERM: 1, ENOENT: 2, EINVAL: 22 }[code]);
    return err;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

function knobsOf(s: Sysctls): Record<string, number> {
  const values = s.knobValues();
  return Object.fromEntries(KNOBS.map((k, i) => [k, values[i]]));
}

describe('personality presets', () => {
  it('are exactly the six named presets, linux-5.4 being the default', () => {
    expect([...PERSONALITY_NAMES]).toEqual([
      'linux-4.14', 'linux-5.4', 'linux-6.13', 'linux-6.18', 'freebsd-12.1', '4.3bsd',
    ]);
    expect(Object.keys(PRESETS).sort()).toEqual([...PERSONALITY_NAMES].sort());
    expect(DEFAULT_PERSONALITY).toBe('linux-5.4');
    expect(new Sysctls().personality.name).toBe('linux-5.4');
  });

  it('belong to their families', () => {
    const families = Object.fromEntries(PERSONALITY_NAMES.map((n) => [n, PRESETS[n].family]));
    expect(families).toEqual({
      'linux-4.14': 'linux', 'linux-5.4': 'linux', 'linux-6.13': 'linux', 'linux-6.18': 'linux',
      'freebsd-12.1': 'freebsd', '4.3bsd': 'bsd43',
    });
  });

  it('give a default for every sysctl of their family and for nothing else', () => {
    for (const name of PERSONALITY_NAMES) {
      const p = PRESETS[name];
      const expected = sysctlDefinitions(p.family).map((d) => d.name).sort();
      expect(Object.keys(p.defaults).sort()).toEqual(expected);
      expect(new Sysctls(name).list().map((e) => e.name)).toEqual(expected);
    }
  });

  it('resolve by name, and by family shorthand for linux and freebsd', () => {
    expect(resolvePersonality('linux-6.13')).toBe(PRESETS['linux-6.13']);
    expect(resolvePersonality('linux')).toBe(PRESETS['linux-5.4']);
    expect(resolvePersonality('freebsd')).toBe(PRESETS['freebsd-12.1']);
    expect(resolvePersonality('4.3bsd')).toBe(PRESETS['4.3bsd']);
  });

  it('refuse an unknown name with an error listing every valid name', () => {
    let err: (Error & { code?: string }) | undefined;
    try {
      resolvePersonality('linux-3.10');
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err).toBeInstanceOf(Error);
    expect(err?.code).toBe('EINVAL');
    expect(err?.message).toContain('linux-3.10');
    for (const n of PERSONALITY_NAMES) expect(err?.message).toContain(n);
    expect(() => new Sysctls('solaris')).toThrow(/valid names/);
  });

  it('reject a hand-made personality whose defaults do not match its family', () => {
    const broken = { ...PRESETS['linux-5.4'], name: 'broken', defaults: { ...PRESETS['linux-5.4'].defaults } };
    delete (broken.defaults as Record<string, unknown>)['net.ipv4.tcp_sack'];
    expect(() => new Sysctls(broken)).toThrow(/no default for net\.ipv4\.tcp_sack/);
    const extra = {
      ...PRESETS['linux-5.4'], name: 'extra',
      defaults: { ...PRESETS['linux-5.4'].defaults, 'kern.ipc.soacceptqueue': 5 },
    };
    expect(() => new Sysctls(extra)).toThrow(/kern\.ipc\.soacceptqueue/);
  });
});

describe('linux defaults per preset', () => {
  const perPreset: Record<string, Record<string, unknown>> = {
    'linux-4.14': {
      'net.core.somaxconn': 128,
      'net.ipv4.tcp_max_syn_backlog': 1024, // max(128, 262144 / 256)
      'net.ipv4.tcp_rmem': [4096, 87380, 6291456],
      'wtcp.linux.synq_full_gt': 0,
      'wtcp.linux.synrecv_rst_challenge': 0,
      'wtcp.linux.synrecv_tsecr_check': 0,
    },
    'linux-5.4': {
      'net.core.somaxconn': 4096,
      'net.ipv4.tcp_max_syn_backlog': 2048, // max(128, 262144 / 128)
      'net.ipv4.tcp_rmem': [4096, 131072, 6291456],
      'wtcp.linux.synq_full_gt': 0,
      'wtcp.linux.synrecv_rst_challenge': 0,
      'wtcp.linux.synrecv_tsecr_check': 0,
    },
    'linux-6.13': {
      'net.core.somaxconn': 4096,
      'net.ipv4.tcp_max_syn_backlog': 2048,
      'net.ipv4.tcp_rmem': [4096, 131072, 6291456],
      'wtcp.linux.synq_full_gt': 1,
      'wtcp.linux.synrecv_rst_challenge': 0,
      'wtcp.linux.synrecv_tsecr_check': 0,
    },
    'linux-6.18': {
      'net.core.somaxconn': 4096,
      'net.ipv4.tcp_max_syn_backlog': 2048,
      'net.ipv4.tcp_rmem': [4096, 131072, 33554432],
      'wtcp.linux.synq_full_gt': 1,
      'wtcp.linux.synrecv_rst_challenge': 1,
      'wtcp.linux.synrecv_tsecr_check': 1,
    },
  };
  const common = {
    'net.ipv4.tcp_syncookies': 1,
    'net.ipv4.tcp_abort_on_overflow': 0,
    'net.ipv4.tcp_synack_retries': 5,
    'net.ipv4.ip_local_port_range': [32768, 60999],
    'net.ipv4.ip_unprivileged_port_start': 1024,
    'net.ipv4.tcp_timestamps': 1,
    'net.ipv4.tcp_sack': 1,
    'net.ipv4.tcp_window_scaling': 1,
    'net.ipv4.tcp_invalid_ratelimit': 500,
    'net.ipv4.ip_default_ttl': 64,
    'wtcp.linux.ehash_entries': 262144,
  };

  for (const [preset, specific] of Object.entries(perPreset)) {
    it(`${preset} has its version's values`, () => {
      const s = new Sysctls(preset);
      for (const [name, value] of Object.entries({ ...common, ...specific })) {
        expect(s.get(name), name).toEqual(value);
      }
    });
  }

  it('prints vectors tab-separated, as /proc does', () => {
    const s = new Sysctls('linux-5.4');
    expect(s.getText('net.ipv4.ip_local_port_range')).toBe('32768\t60999');
    expect(s.getText('net.ipv4.tcp_rmem')).toBe('4096\t131072\t6291456');
    expect(s.getText('net.core.somaxconn')).toBe('4096');
  });

  it('derives tcp_max_syn_backlog from the ehash size given at creation, unless it is given too', () => {
    expect(new Sysctls('linux-5.4', { 'wtcp.linux.ehash_entries': 1 << 20 }).get('net.ipv4.tcp_max_syn_backlog')).toBe(8192);
    expect(new Sysctls('linux-4.14', { 'wtcp.linux.ehash_entries': 1 << 20 }).get('net.ipv4.tcp_max_syn_backlog')).toBe(4096);
    // small machine: the 128 floor
    expect(new Sysctls('linux-5.4', { 'wtcp.linux.ehash_entries': 8192 }).get('net.ipv4.tcp_max_syn_backlog')).toBe(128);
    expect(
      new Sysctls('linux-5.4', { 'wtcp.linux.ehash_entries': 1 << 20, 'net.ipv4.tcp_max_syn_backlog': 256 })
        .get('net.ipv4.tcp_max_syn_backlog'),
    ).toBe(256);
    expectError(() => new Sysctls('linux-5.4', { 'wtcp.linux.ehash_entries': 1000 }), 'EINVAL');
  });

  it('lets a user build linux-6.1.125 by hand: 5.4 plus the SYN-queue fix', () => {
    const s = new Sysctls('linux-5.4', { 'wtcp.linux.synq_full_gt': 1 });
    const k = knobsOf(s);
    expect(k.synq_full_gt).toBe(1);
    expect(k.synrecv_rst_challenge).toBe(0);
    expect(s.get('net.core.somaxconn')).toBe(4096);
  });
});

describe('freebsd-12.1 defaults', () => {
  it('has the FreeBSD 12.1 values', () => {
    const s = new Sysctls('freebsd-12.1');
    const expected: Record<string, number> = {
      'kern.ipc.soacceptqueue': 128,
      'kern.ipc.maxsockbuf': 2097152,
      'net.inet.tcp.syncookies': 1,
      'net.inet.tcp.syncookies_only': 0,
      'net.inet.tcp.syncache.rst_on_sock_fail': 1,
      'net.inet.tcp.syncache.rexmtlimit': 3,
      'net.inet.tcp.syncache.bucketlimit': 30,
      'net.inet.tcp.syncache.hashsize': 512,
      'net.inet.tcp.syncache.cachelimit': 15360,
      'net.inet.tcp.drop_synfin': 0,
      'net.inet.tcp.insecure_rst': 0,
      'net.inet.tcp.rexmit_initial': 3000,
      'net.inet.tcp.mssdflt': 536,
      'net.inet.icmp.icmplim': 200,
      'net.inet.ip.portrange.first': 10000,
      'net.inet.ip.portrange.last': 65535,
      'net.inet.tcp.rfc1323': 1,
      'net.inet.tcp.sack.enable': 1,
      'net.inet.tcp.recvspace': 65536,
      'net.inet.ip.ttl': 64,
      'net.inet.accf.http.parsehttpversion': 1,
    };
    for (const [name, value] of Object.entries(expected)) expect(s.get(name), name).toBe(value);
  });

  it('computes cachelimit from hashsize x bucketlimit given at creation, unless cachelimit is given', () => {
    expect(new Sysctls('freebsd-12.1', { 'net.inet.tcp.syncache.hashsize': 1024 }).get('net.inet.tcp.syncache.cachelimit')).toBe(30720);
    expect(new Sysctls('freebsd-12.1', { 'net.inet.tcp.syncache.bucketlimit': 4 }).get('net.inet.tcp.syncache.cachelimit')).toBe(2048);
    expect(
      new Sysctls('freebsd-12.1', { 'net.inet.tcp.syncache.hashsize': 1024, 'net.inet.tcp.syncache.cachelimit': 100 })
        .get('net.inet.tcp.syncache.cachelimit'),
    ).toBe(100);
  });
});

describe('4.3bsd defaults', () => {
  it('has the 1986 constants', () => {
    const s = new Sysctls('4.3bsd');
    expect(s.get('wtcp.bsd43.somaxconn')).toBe(5);
    expect(s.get('wtcp.bsd43.mss_local')).toBe(1024);
    expect(s.get('wtcp.bsd43.tcp_mss')).toBe(512);
    expect(s.get('wtcp.bsd43.recvspace')).toBe(4096);
    expect(s.get('wtcp.bsd43.predictable_isn')).toBe(0);
    expect(s.get('wtcp.bsd43.tcp_ttl')).toBe(30);
    expect(s.ephemeralPortRange()).toEqual({ first: 1024, last: 5000 });
  });
});

describe('sysctl names', () => {
  it('an unknown name is ENOENT naming the sysctl and the personality', () => {
    const err = expectError(() => new Sysctls('linux-5.4').get('net.ipv4.foo'), 'ENOENT');
    expect(err.message).toBe('unknown sysctl net.ipv4.foo for linux-5.4');
    expect(err.sysctl).toBe('net.ipv4.foo');
    expectError(() => new Sysctls('freebsd-12.1').set('net.inet.tcp.nope', 1), 'ENOENT');
  });

  it("another family's sysctl is ENOENT saying whose it is", () => {
    const linux = new Sysctls('linux-5.4');
    expect(expectError(() => linux.get('kern.ipc.soacceptqueue'), 'ENOENT').message).toMatch(/belongs to freebsd/);
    expect(expectError(() => linux.set('kern.ipc.somaxconn', 10), 'ENOENT').message).toMatch(/belongs to freebsd/);
    expect(expectError(() => linux.get('wtcp.bsd43.somaxconn'), 'ENOENT').message).toMatch(/belongs to bsd43/);
    const bsd = new Sysctls('freebsd-12.1');
    const err = expectError(() => bsd.get('net.core.somaxconn'), 'ENOENT');
    expect(err.message).toContain('net.core.somaxconn');
    expect(err.message).toContain('freebsd-12.1');
    expect(err.message).toMatch(/belongs to linux/);
  });

  it('overrides are checked the same way', () => {
    expectError(() => new Sysctls('linux-5.4', { 'net.ipv4.foo': 1 }), 'ENOENT');
    expectError(() => new Sysctls('4.3bsd', { 'net.core.somaxconn': 1 }), 'ENOENT');
  });
});

describe('value parsing', () => {
  const s = () => new Sysctls('linux-5.4');

  it('takes numbers and numeric strings as sysctl -w users type them', () => {
    const x = s();
    x.set('net.ipv4.tcp_synack_retries', 3);
    expect(x.get('net.ipv4.tcp_synack_retries')).toBe(3);
    x.set('net.ipv4.tcp_synack_retries', ' 7\n');
    expect(x.get('net.ipv4.tcp_synack_retries')).toBe(7);
    x.set('net.ipv4.tcp_synack_retries', '0x10'); // strtol base 0: hex
    expect(x.get('net.ipv4.tcp_synack_retries')).toBe(16);
    x.set('net.ipv4.tcp_synack_retries', '010'); // strtol base 0: octal
    expect(x.get('net.ipv4.tcp_synack_retries')).toBe(8);
    x.set('net.ipv4.tcp_sack', false);
    expect(x.get('net.ipv4.tcp_sack')).toBe(0);
  });

  it('refuses non-integers with EINVAL giving the accepted range', () => {
    const x = s();
    const bad: SysctlInput[] = ['abc', 1.5, '1.5', NaN, Infinity, '', '08', '1e3', '5 6', true];
    for (const v of bad) {
      const err = expectError(() => x.set('net.ipv4.tcp_synack_retries', v), 'EINVAL');
      expect(err.message, String(v)).toContain('0..255');
    }
    expectError(() => x.set('net.ipv4.tcp_synack_retries', null as unknown as number), 'EINVAL');
    expectError(() => x.set('net.ipv4.tcp_synack_retries', {} as unknown as number), 'EINVAL');
    expect(x.get('net.ipv4.tcp_synack_retries')).toBe(5);
  });

  it('checks ranges and allowed sets', () => {
    const x = s();
    expect(expectError(() => x.set('net.ipv4.tcp_synack_retries', 256), 'EINVAL').message).toMatch(/0\.\.255/);
    expectError(() => x.set('net.ipv4.tcp_synack_retries', -1), 'EINVAL');
    x.set('net.ipv4.tcp_synack_retries', 255);
    x.set('net.ipv4.tcp_synack_retries', 0);
    expect(x.get('net.ipv4.tcp_synack_retries')).toBe(0);

    expect(expectError(() => x.set('net.ipv4.tcp_syncookies', 3), 'EINVAL').message).toContain('one of 0, 1, 2');
    x.set('net.ipv4.tcp_syncookies', 2);
    expect(x.get('net.ipv4.tcp_syncookies')).toBe(2);
    expect(expectError(() => x.set('net.ipv4.tcp_timestamps', 3), 'EINVAL').message).toContain('one of 0, 1, 2');
    expect(expectError(() => x.set('net.ipv4.tcp_abort_on_overflow', 2), 'EINVAL').message).toContain('0 or 1');

    expectError(() => x.set('net.ipv4.ip_default_ttl', 0), 'EINVAL');
    expectError(() => x.set('net.ipv4.ip_default_ttl', 256), 'EINVAL');
    x.set('net.ipv4.ip_default_ttl', 255);

    expectError(() => x.set('net.ipv4.tcp_invalid_ratelimit', -1), 'EINVAL');
    x.set('net.ipv4.tcp_invalid_ratelimit', 0);
  });

  it('somaxconn takes 0..INT_MAX, the values the listen() clamp sees', () => {
    const x = s();
    x.set('net.core.somaxconn', 0);
    expect(x.get('net.core.somaxconn')).toBe(0);
    x.set('net.core.somaxconn', 2147483647);
    expectError(() => x.set('net.core.somaxconn', 2147483648), 'EINVAL');
    expect(expectError(() => x.set('net.core.somaxconn', -1), 'EINVAL').message).toContain('0..2147483647');
  });

  it('tcp_max_syn_backlog takes any C int, as proc_dointvec does', () => {
    const x = s();
    x.set('net.ipv4.tcp_max_syn_backlog', 0);
    expect(x.get('net.ipv4.tcp_max_syn_backlog')).toBe(0);
    x.set('net.ipv4.tcp_max_syn_backlog', '-5');
    expect(x.get('net.ipv4.tcp_max_syn_backlog')).toBe(-5);
    expect(knobsOf(x).tcp_max_syn_backlog).toBe(-5);
    expectError(() => x.set('net.ipv4.tcp_max_syn_backlog', 2 ** 31), 'EINVAL');
  });
});

describe('net.ipv4.ip_local_port_range', () => {
  const name = 'net.ipv4.ip_local_port_range';

  it('takes "lo hi" strings and [lo, hi] pairs; equal parity is allowed', () => {
    const x = new Sysctls('linux-5.4');
    x.set(name, '40000 40001');
    expect(x.get(name)).toEqual([40000, 40001]);
    x.set(name, [50000, 50002]);
    expect(x.get(name)).toEqual([50000, 50002]);
    x.set(name, ['1024', '65535']);
    expect(x.get(name)).toEqual([1024, 65535]);
    x.set(name, '2000\t2000');
    expect(x.ephemeralPortRange()).toEqual({ first: 2000, last: 2000 });
  });

  it('refuses hi < lo, ports outside 1..65535 and a wrong count', () => {
    const x = new Sysctls('linux-5.4');
    expect(expectError(() => x.set(name, '40001 40000'), 'EINVAL').message).toMatch(/below the first port/);
    expectError(() => x.set(name, '40000 65536'), 'EINVAL');
    expectError(() => x.set(name, [0, 5]), 'EINVAL');
    expectError(() => x.set(name, '1 2 3'), 'EINVAL');
    expectError(() => x.set(name, ''), 'EINVAL');
    expectError(() => x.set(name, 'a b'), 'EINVAL');
    expect(x.get(name)).toEqual([32768, 60999]);
  });

  it('a single number changes only the first port, as a short /proc write does', () => {
    const x = new Sysctls('linux-5.4');
    x.set(name, '33000');
    expect(x.get(name)).toEqual([33000, 60999]);
    expectError(() => x.set(name, 61000), 'EINVAL'); // would leave hi < lo
  });

  it('may not start below ip_unprivileged_port_start, and that one may not rise above it', () => {
    const x = new Sysctls('linux-5.4');
    expect(expectError(() => x.set(name, '1000 2000'), 'EINVAL').message).toContain('ip_unprivileged_port_start');
    x.set('net.ipv4.ip_unprivileged_port_start', 0);
    x.set(name, '1000 2000');
    expect(x.get(name)).toEqual([1000, 2000]);
    expectError(() => x.set('net.ipv4.ip_unprivileged_port_start', 1001), 'EINVAL');
    x.set('net.ipv4.ip_unprivileged_port_start', 1000);
    expect(x.get('net.ipv4.ip_unprivileged_port_start')).toBe(1000);
    expectError(
      () => new Sysctls('linux-5.4', { 'net.ipv4.ip_unprivileged_port_start': 40000 }),
      'EINVAL',
    );
    expect(new Sysctls('linux-5.4', { [name]: '40000 40001' }).ephemeralPortRange()).toEqual({ first: 40000, last: 40001 });
  });
});

describe('net.ipv4.tcp_rmem and the window scale', () => {
  it('feeds tcp_rmem_default (middle value) and rcv_wscale (from the max)', () => {
    expect(knobsOf(new Sysctls('linux-5.4')).rcv_wscale).toBe(7);
    expect(knobsOf(new Sysctls('linux-4.14')).tcp_rmem_default).toBe(87380);
    const k618 = knobsOf(new Sysctls('linux-6.18'));
    expect(k618.rcv_wscale).toBe(10); // what the reference 6.18 machine offers
    expect(k618.tcp_rmem_default).toBe(131072);
    const x = new Sysctls('linux-5.4');
    x.set('net.ipv4.tcp_rmem', '8192 262144 16777216');
    expect(knobsOf(x).tcp_rmem_default).toBe(262144);
    expect(knobsOf(x).rcv_wscale).toBe(9);
    x.set('net.ipv4.tcp_rmem', '4096 65536 100000'); // rmem_max (212992) now dominates
    expect(knobsOf(x).rcv_wscale).toBe(2);
  });

  it('keeps trailing values on a short write and needs every value >= 1', () => {
    const x = new Sysctls('linux-5.4');
    x.set('net.ipv4.tcp_rmem', '1');
    expect(x.get('net.ipv4.tcp_rmem')).toEqual([1, 131072, 6291456]);
    expectError(() => x.set('net.ipv4.tcp_rmem', '4096 0 6291456'), 'EINVAL');
    expectError(() => x.set('net.ipv4.tcp_rmem', '1 2 3 4'), 'EINVAL');
  });

  it('window scale formulas match the kernels', () => {
    expect(linuxRcvWscale(6291456)).toBe(7);
    expect(linuxRcvWscale(33554432)).toBe(10);
    expect(linuxRcvWscale(2 ** 40)).toBe(14);
    expect(freebsdRcvWscale(2097152)).toBe(6);
    expect(freebsdRcvWscale(65535)).toBe(0);
    expect(freebsdRcvWscale(65536)).toBe(1);
    expect(freebsdRcvWscale(2 ** 40)).toBe(14);
  });
});

describe('freebsd sysctls', () => {
  it('kern.ipc.soacceptqueue takes 1..UINT_MAX/3', () => {
    const x = new Sysctls('freebsd-12.1');
    expect(expectError(() => x.set('kern.ipc.soacceptqueue', 0), 'EINVAL').message).toContain('1..1431655765');
    expectError(() => x.set('kern.ipc.soacceptqueue', 1431655766), 'EINVAL');
    x.set('kern.ipc.soacceptqueue', 1431655765);
    expect(x.get('kern.ipc.soacceptqueue')).toBe(1431655765);
  });

  it('kern.ipc.somaxconn is a hidden alias: setting one sets the other', () => {
    const x = new Sysctls('freebsd-12.1');
    x.set('kern.ipc.somaxconn', 1000);
    expect(x.get('kern.ipc.soacceptqueue')).toBe(1000);
    x.set('kern.ipc.soacceptqueue', 7);
    expect(x.get('kern.ipc.somaxconn')).toBe(7);
    const names = x.list().map((e) => e.name);
    expect(names).toContain('kern.ipc.soacceptqueue');
    expect(names).not.toContain('kern.ipc.somaxconn');
    expect(new Sysctls('freebsd-12.1', { 'kern.ipc.somaxconn': 64 }).get('kern.ipc.soacceptqueue')).toBe(64);
    expect(new Sysctls('freebsd-12.1', { 'kern.ipc.somaxconn': 64, 'kern.ipc.soacceptqueue': 64 }).somaxconn()).toBe(64);
    expectError(
      () => new Sysctls('freebsd-12.1', { 'kern.ipc.somaxconn': 64, 'kern.ipc.soacceptqueue': 65 }),
      'EINVAL',
    );
  });

  it('syncache limits are loader tunables: creation only', () => {
    const x = new Sysctls('freebsd-12.1');
    for (const n of ['net.inet.tcp.syncache.bucketlimit', 'net.inet.tcp.syncache.hashsize', 'net.inet.tcp.syncache.cachelimit']) {
      expect(expectError(() => x.set(n, 64), 'EPERM').message).toContain('loader tunable');
    }
    const y = new Sysctls('freebsd-12.1', {
      'net.inet.tcp.syncache.bucketlimit': 2,
      'net.inet.tcp.syncache.hashsize': 16,
      'net.inet.tcp.syncache.cachelimit': 20,
    });
    const k = knobsOf(y);
    expect(k.fb_bucketlimit).toBe(2);
    expect(k.fb_cachelimit).toBe(20);
    expect(expectError(() => new Sysctls('freebsd-12.1', { 'net.inet.tcp.syncache.hashsize': 1000 }), 'EINVAL').message)
      .toContain('power of two');
    expectError(() => new Sysctls('freebsd-12.1', { 'net.inet.tcp.syncache.bucketlimit': 0 }), 'EINVAL');
  });

  it('rexmtlimit stops at TCP_MAXRXTSHIFT, rexmit_initial and mssdflt have their minimums', () => {
    const x = new Sysctls('freebsd-12.1');
    x.set('net.inet.tcp.syncache.rexmtlimit', 12);
    expect(expectError(() => x.set('net.inet.tcp.syncache.rexmtlimit', 13), 'EINVAL').message).toContain('0..12');
    x.set('net.inet.tcp.syncache.rexmtlimit', 0);
    expect(knobsOf(x).fb_rexmtlimit).toBe(0);
    expectError(() => x.set('net.inet.tcp.rexmit_initial', 0), 'EINVAL');
    x.set('net.inet.tcp.rexmit_initial', 1000);
    expect(knobsOf(x).fb_rexmit_initial).toBe(1000);
    expectError(() => x.set('net.inet.tcp.mssdflt', 215), 'EINVAL');
    x.set('net.inet.tcp.mssdflt', 216);
    expect(knobsOf(x).mss_default).toBe(216);
    expectError(() => x.set('kern.ipc.maxsockbuf', 2303), 'EINVAL');
  });

  it('portrange values outside 1024..65535 are clamped, not refused; either order works', () => {
    const x = new Sysctls('freebsd-12.1');
    x.set('net.inet.ip.portrange.first', 80);
    expect(x.get('net.inet.ip.portrange.first')).toBe(1024);
    x.set('net.inet.ip.portrange.last', 70000);
    expect(x.get('net.inet.ip.portrange.last')).toBe(65535);
    x.set('net.inet.ip.portrange.first', 50000);
    x.set('net.inet.ip.portrange.last', 40000);
    expect(x.ephemeralPortRange()).toEqual({ first: 40000, last: 50000 });
    expectError(() => x.set('net.inet.ip.portrange.first', 'x'), 'EINVAL');
    expectError(() => x.set('net.inet.ip.portrange.first', 2 ** 31), 'EINVAL');
  });

  it('maxsockbuf decides the window scale offered', () => {
    const x = new Sysctls('freebsd-12.1');
    expect(knobsOf(x).rcv_wscale).toBe(6);
    x.set('kern.ipc.maxsockbuf', 4194304);
    expect(knobsOf(x).rcv_wscale).toBe(7);
  });
});

describe('run-time, creation-only and read-only sysctls', () => {
  it('linux version switches can be given at creation but not changed later', () => {
    const x = new Sysctls('linux-6.13');
    const err = expectError(() => x.set('wtcp.linux.synq_full_gt', 0), 'EPERM');
    expect(err.message).toContain('wtcp.linux.synq_full_gt');
    expect(err.message).toMatch(/created/);
    expect(x.get('wtcp.linux.synq_full_gt')).toBe(1);
    expectError(() => x.set('wtcp.linux.ehash_entries', 1024), 'EPERM');
  });

  it('4.3bsd constants are read-only, even at creation', () => {
    const x = new Sysctls('4.3bsd');
    expect(expectError(() => x.set('wtcp.bsd43.somaxconn', 6), 'EPERM').message).toMatch(/read-only/);
    expectError(() => new Sysctls('4.3bsd', { 'wtcp.bsd43.somaxconn': 6 }), 'EPERM');
    expectError(() => new Sysctls('4.3bsd', { 'wtcp.bsd43.ipport_userreserved': 6000 }), 'EPERM');
    expectError(() => x.set('wtcp.bsd43.tcp_mss', 512), 'EPERM');
  });

  it('4.3bsd machine constants are creation-time', () => {
    const x = new Sysctls('4.3bsd', {
      'wtcp.bsd43.mss_local': 1460,
      'wtcp.bsd43.recvspace': 8192,
      'wtcp.bsd43.predictable_isn': 1,
    });
    const k = knobsOf(x);
    expect(k.b43_mss_local).toBe(1460);
    expect(k.b43_recvspace).toBe(8192);
    expect(k.b43_predictable_isn).toBe(1);
    expectError(() => x.set('wtcp.bsd43.mss_local', 512), 'EPERM');
    expectError(() => new Sysctls('4.3bsd', { 'wtcp.bsd43.recvspace': 65536 }), 'EINVAL');
  });

  it('every definition states one access mode and a one-line description', () => {
    for (const d of SYSCTLS) {
      expect(['runtime', 'creation', 'readonly']).toContain(d.access);
      expect(d.description.length, d.name).toBeGreaterThan(10);
      expect(d.description, d.name).not.toMatch(/\n/);
      expect(d.min, d.name).toBeLessThanOrEqual(d.max);
    }
    const access = (n: string) => SYSCTLS.find((d) => d.name === n)?.access;
    expect(access('net.core.somaxconn')).toBe('runtime');
    expect(access('net.inet.tcp.syncache.hashsize')).toBe('creation');
    expect(access('wtcp.bsd43.somaxconn')).toBe('readonly');
  });
});

describe('knobValues for the core', () => {
  it('has one value per KNOBS entry, in KNOBS order', () => {
    for (const p of PERSONALITY_NAMES) {
      const values = new Sysctls(p).knobValues();
      expect(values).toHaveLength(KNOBS.length);
      for (const v of values) expect(Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31).toBe(true);
    }
  });

  it('maps every linux-5.4 knob', () => {
    const k = knobsOf(new Sysctls('linux-5.4'));
    const expected: Partial<Record<KnobName, number>> = {
      family: 0,
      tcp_syncookies: 1, tcp_abort_on_overflow: 0, tcp_synack_retries: 5, tcp_max_syn_backlog: 2048,
      synq_full_gt: 0, synrecv_rst_challenge: 0, synrecv_tsecr_check: 0,
      tcp_timestamps: 1, tcp_sack: 1, tcp_window_scaling: 1, tcp_invalid_ratelimit: 500,
      tcp_rmem_default: 131072, ip_default_ttl: 64, rcv_wscale: 7, mss_default: 536,
      tcp_challenge_ack_limit: 1000,
      tcp_cc_default: 1, // net.ipv4.tcp_congestion_control cubic
      tcp_syn_retries: 6,
    };
    for (const name of KNOBS) expect(k[name], name).toBe(expected[name] ?? 0);
  });

  it('maps every freebsd-12.1 knob', () => {
    const k = knobsOf(new Sysctls('freebsd-12.1'));
    const expected: Partial<Record<KnobName, number>> = {
      family: 1,
      fb_syncookies: 1, fb_syncookies_only: 0, fb_rst_on_sock_fail: 1, fb_drop_synfin: 0,
      fb_insecure_rst: 0, fb_rexmtlimit: 3, fb_rexmit_initial: 3000, fb_bucketlimit: 30,
      fb_cachelimit: 15360, fb_icmplim: 200, fb_rfc1323: 1, fb_sack: 1, fb_recvspace: 65536,
      ip_default_ttl: 64, rcv_wscale: 6, mss_default: 536,
    };
    for (const name of KNOBS) expect(k[name], name).toBe(expected[name] ?? 0);
  });

  it('maps every 4.3bsd knob', () => {
    const k = knobsOf(new Sysctls('4.3bsd'));
    const expected: Partial<Record<KnobName, number>> = {
      family: 2, b43_mss_local: 1024, b43_recvspace: 4096, b43_predictable_isn: 0,
      ip_default_ttl: 30, rcv_wscale: 0, mss_default: 512,
    };
    for (const name of KNOBS) expect(k[name], name).toBe(expected[name] ?? 0);
  });

  it('the version switches reach the core per preset', () => {
    const sw = (p: string) => {
      const k = knobsOf(new Sysctls(p));
      return [k.synq_full_gt, k.synrecv_rst_challenge, k.synrecv_tsecr_check];
    };
    expect(sw('linux-4.14')).toEqual([0, 0, 0]);
    expect(sw('linux-5.4')).toEqual([0, 0, 0]);
    expect(sw('linux-6.13')).toEqual([1, 0, 0]);
    expect(sw('linux-6.18')).toEqual([1, 1, 1]);
  });

  it('every knob a family owns has a source in that family', () => {
    const shared = new Set(['family', 'ip_default_ttl', 'rcv_wscale', 'mss_default', 'link_mtu']);
    const owner = (k: string): FamilyName | 'all' =>
      shared.has(k) ? 'all' : k.startsWith('fb_') ? 'freebsd' : k.startsWith('b43_') ? 'bsd43' : 'linux';
    for (const family of ['linux', 'freebsd', 'bsd43'] as const) {
      const sources = knobSources(family);
      for (const k of KNOBS) {
        const o = owner(k);
        if (o === 'all' || o === family) expect(sources, `${family} ${k}`).toContain(k);
      }
    }
  });

  it("definitions name real knobs, and a pending knob is one core-abi.ts still lacks", () => {
    for (const d of SYSCTLS) {
      if (d.knob === 'pending') {
        expect(d.pendingKnob, d.name).toBeDefined();
        expect(KNOBS as readonly string[], d.name).not.toContain(d.pendingKnob);
      } else if (d.knob !== 'host') {
        expect(KNOBS, d.name).toContain(d.knob);
        expect(knobSources(d.family), d.name).toContain(d.knob);
      }
      for (const k of d.derivedKnobs ?? []) expect(KNOBS, d.name).toContain(k);
    }
  });

  it('knobId is the KNOBS index', () => {
    expect(Sysctls.knobId('tcp_syncookies')).toBe(KNOBS.indexOf('tcp_syncookies'));
    expect(Sysctls.knobId('family')).toBe(0);
    expect(KNOB.mss_default).toBe(31);
    expect(KNOB.linux_init_rwnd).toBe(32);
    expect(KNOB.ack_unsent_challenge).toBe(36);
    expect(KNOB.link_mtu).toBe(37);
    expect(KNOB.tcp_cc_default).toBe(38);
    expect(KNOB.tcp_syn_linear_timeouts).toBe(KNOBS.length - 1);
  });
});

describe('change notification', () => {
  it('reports the knobs a write changed, with their core ids', () => {
    const x = new Sysctls('linux-5.4');
    const seen: SysctlChange[] = [];
    x.onChange((c) => seen.push(c));
    x.set('net.ipv4.tcp_syncookies', '0');
    expect(seen).toEqual([
      {
        name: 'net.ipv4.tcp_syncookies', value: 0, previous: 1,
        knobs: [{ id: KNOB.tcp_syncookies, knob: 'tcp_syncookies', value: 0 }],
      },
    ]);
  });

  it('reports derived knobs too, and host-only sysctls with no knobs', () => {
    const x = new Sysctls('linux-5.4');
    const seen: SysctlChange[] = [];
    x.onChange((c) => seen.push(c));
    x.set('net.ipv4.tcp_rmem', '4096 262144 33554432');
    expect(seen[0]?.knobs).toEqual([
      { id: KNOB.tcp_rmem_default, knob: 'tcp_rmem_default', value: 262144 },
      { id: KNOB.rcv_wscale, knob: 'rcv_wscale', value: 10 },
    ]);
    x.set('net.core.somaxconn', 10);
    expect(seen[1]).toEqual({ name: 'net.core.somaxconn', value: 10, previous: 4096, knobs: [] });
  });

  it('reports an alias write under the canonical name', () => {
    const x = new Sysctls('freebsd-12.1');
    const seen: SysctlChange[] = [];
    x.onChange((c) => seen.push(c));
    x.set('kern.ipc.somaxconn', 256);
    expect(seen.map((c) => [c.name, c.value])).toEqual([['kern.ipc.soacceptqueue', 256]]);
  });

  it('stays silent for no-op and refused writes, and stops after unsubscribing', () => {
    const x = new Sysctls('linux-5.4');
    const seen: SysctlChange[] = [];
    const off = x.onChange((c) => seen.push(c));
    x.set('net.ipv4.tcp_synack_retries', 5);
    expect(() => x.set('net.ipv4.tcp_synack_retries', 500)).toThrow();
    expect(() => x.set('wtcp.linux.synq_full_gt', 1)).toThrow();
    expect(seen).toHaveLength(0);
    x.set('net.ipv4.tcp_synack_retries', 2);
    expect(seen).toHaveLength(1);
    off();
    x.set('net.ipv4.tcp_synack_retries', 3);
    expect(seen).toHaveLength(1);
  });
});

describe('list() like sysctl -a', () => {
  it('lists every sysctl of the family once, sorted, with sysctl-style text', () => {
    const entries = new Sysctls('linux-5.4').list();
    const names = entries.map((e) => e.name);
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('wtcp.linux.synq_full_gt');
    expect(names.some((n) => n.startsWith('kern.') || n.startsWith('wtcp.bsd43.'))).toBe(false);
    const range = entries.find((e) => e.name === 'net.ipv4.ip_local_port_range');
    expect(range).toMatchObject({ text: '32768\t60999', access: 'runtime' });
  });

  it('reflects writes', () => {
    const x = new Sysctls('freebsd-12.1');
    x.set('net.inet.tcp.syncookies', 0);
    expect(x.list().find((e) => e.name === 'net.inet.tcp.syncookies')?.value).toBe(0);
  });
});

describe('listen() backlog clamp (host helper)', () => {
  it('linux: (unsigned)b > somaxconn ? somaxconn : b', () => {
    const x = new Sysctls('linux-5.4');
    expect([-1, -5, 0, 1, 5, 4096, 4097, 100000].map((b) => x.effectiveBacklog(b)))
      .toEqual([4096, 4096, 0, 1, 5, 4096, 4096, 4096]);
    expect(new Sysctls('linux-4.14').effectiveBacklog(200)).toBe(128);
    x.set('net.core.somaxconn', 10);
    expect(x.effectiveBacklog(11)).toBe(10);
    expect(x.effectiveBacklog(-1)).toBe(10);
  });

  it('freebsd: b < 0 || b > cap ? cap : b', () => {
    const x = new Sysctls('freebsd-12.1');
    expect([-1, 0, 1, 128, 129].map((b) => x.effectiveBacklog(b))).toEqual([128, 0, 1, 128, 128]);
    x.set('kern.ipc.somaxconn', 3);
    expect(x.somaxconn()).toBe(3);
    expect(x.effectiveBacklog(4)).toBe(3);
  });

  it('4.3bsd: negative becomes 0, the cap is 5', () => {
    const x = new Sysctls('4.3bsd');
    expect([-1, 0, 3, 5, 6, 100].map((b) => x.effectiveBacklog(b))).toEqual([0, 0, 3, 5, 5, 5]);
  });
});
