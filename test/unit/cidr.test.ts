/**
 * The address / CIDR matcher of trustedProxies and ipRestriction (src/net/cidr.ts), and the
 * config check of the same syntax (src/util/syntax.ts cidrProblem): table-driven, IPv4 and IPv6,
 * /0, the full-length prefixes, prefixes off a byte boundary, IPv4-mapped IPv6, zones, malformed
 * input on both sides.
 */
import { describe, expect, it } from 'vitest';
import { compileCidrs, parseAddress, parseCidr } from '../../src/net/cidr.js';
import { cidrProblem } from '../../src/util/syntax.js';

// [ranges, address, matches]
const MATCHES: Array<[string[], string, boolean]> = [
  // IPv4
  [['10.0.0.0/8'], '10.0.0.1', true],
  [['10.0.0.0/8'], '10.255.255.255', true],
  [['10.0.0.0/8'], '11.0.0.0', false],
  [['10.0.0.0/8'], '9.255.255.255', false],
  [['10.0.0.0/9'], '10.127.255.255', true],
  [['10.0.0.0/9'], '10.128.0.0', false],
  [['10.0.0.0/7'], '11.1.2.3', true],
  [['10.0.0.0/7'], '12.0.0.0', false],
  [['192.168.1.0/24'], '192.168.1.77', true],
  [['192.168.1.0/24'], '192.168.2.77', false],
  [['192.168.1.64/26'], '192.168.1.127', true],
  [['192.168.1.64/26'], '192.168.1.128', false],
  [['192.168.1.64/26'], '192.168.1.63', false],
  [['10.0.0.1/32'], '10.0.0.1', true],
  [['10.0.0.1/32'], '10.0.0.2', false],
  [['10.0.0.1'], '10.0.0.1', true], // a plain address is its /32
  [['10.0.0.1'], '10.0.0.0', false],
  [['10.1.2.3/8'], '10.200.0.1', true], // host bits set: the whole /8 (the config check warns)
  [['0.0.0.0/0'], '0.0.0.0', true],
  [['0.0.0.0/0'], '255.255.255.255', true],
  [['0.0.0.0/0'], '::ffff:8.8.8.8', true],
  [['0.0.0.0/0'], '::1', false], // /0 of IPv4 is every IPv4 address, no IPv6 one
  [['0.0.0.0/0'], '2001:db8::1', false],
  // IPv6
  [['::/0'], '::', true],
  [['::/0'], 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
  [['::/0'], '10.0.0.1', true], // every address, IPv4 ones too
  [['2001:db8::/32'], '2001:db8::1', true],
  [['2001:db8::/32'], '2001:0DB8:ffff:ffff::1', true],
  [['2001:db8::/32'], '2001:db9::1', false],
  [['2001:db8::/33'], '2001:db8:7fff::1', true],
  [['2001:db8::/33'], '2001:db8:8000::1', false],
  [['2001:db8::/64'], '2001:db8::ffff:ffff:ffff:ffff', true],
  [['2001:db8::/64'], '2001:db8:0:1::', false],
  [['2001:db8::/65'], '2001:db8::7fff:ffff:ffff:ffff', true],
  [['2001:db8::/65'], '2001:db8::8000:0:0:0', false],
  [['fd00::/8'], 'fdff::1', true],
  [['fd00::/8'], 'fc00::1', false],
  [['fe80::/10'], 'febf::1', true],
  [['fe80::/10'], 'fec0::1', false],
  [['fe80::/10'], 'fe80::1%eth0', true], // a zone is ignored
  [['::1/128'], '::1', true],
  [['::1/128'], '::2', false],
  [['::1'], '::1', true],
  [['::1'], '0:0:0:0:0:0:0:1', true],
  [['2001:db8:1:2:3:4:5:6/128'], '2001:db8:1:2:3:4:5:6', true],
  [['2001:db8:1:2:3:4:5:6/128'], '2001:db8:1:2:3:4:5:7', false],
  [['1::/16'], '1::', true],
  [['::ff00/120'], '::ffaa', true],
  [['::ff00/120'], '::1:ffaa', false],
  // IPv4-mapped IPv6 addresses are their IPv4 address, both ways
  [['10.0.0.0/8'], '::ffff:10.0.0.1', true],
  [['10.0.0.0/8'], '::FFFF:10.0.0.1', true],
  [['10.0.0.0/8'], '::ffff:a00:1', true], // the same, in hex
  [['10.0.0.0/8'], '0:0:0:0:0:ffff:10.1.2.3', true],
  [['10.0.0.0/8'], '::ffff:11.0.0.1', false],
  [['10.0.0.0/8'], '::10.0.0.1', false], // IPv4-compatible (::a.b.c.d) is not mapped
  [['10.0.0.0/8'], '64:ff9b::10.0.0.1', false], // NAT64 is not mapped either
  [['127.0.0.1/32'], '::ffff:127.0.0.1', true],
  [['::ffff:10.0.0.0/104'], '10.9.8.7', true],
  [['::ffff:10.0.0.0/104'], '11.9.8.7', false],
  [['::ffff:0:0/96'], '1.2.3.4', true], // the whole IPv4 space, written as IPv6
  [['::ffff:0:0/96'], '::1', false],
  // several ranges: any of them
  [['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8'], '192.168.4.4', true],
  [['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8'], 'fd12::3', true],
  [['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8'], '172.16.0.1', false],
];

// Addresses that are no address: never matched, even by /0.
const NOT_ADDRESSES = [
  '', ' ', '10.0.0', '10.0.0.256', '1.2.3.4.5', '1.2.3.-1', ' 10.0.0.1', '10.0.0.1 ', '10.0.0.1/32', 'localhost',
  '0x0a.0.0.1', '10.0.0.1:80', '[::1]', ':::1', '1:2:3:4:5:6:7:8:9', '1::2::3', '::ffff:999.0.0.1', '::ffff:1.2.3',
  'g::1', '12345::1', '::1 ', 'unknown',
];

// Ranges that are invalid: the config check says why, the matcher refuses to compile them.
const BAD_RANGES = [
  '', '10.0.0.0/33', '::/129', '10.0.0.0/', '/8', '10.0.0.0/-1', '10.0.0.0/+8', '10.0.0.0/8/8', '10.0.0.0/ 8',
  '10.0.0.0/0x8', '10.0.0.0/1000', '10.0.0/8', '300.0.0.0/8', 'localhost/8', '[::1]/128', 'fd00::/8 ', 'fd00:::/8',
];

describe('compileCidrs', () => {
  it.each(MATCHES)('%j matches %s: %s', (ranges, address, expected) => {
    expect(compileCidrs(ranges)(address)).toBe(expected);
  });

  it.each(NOT_ADDRESSES)('%j is not an address: matched by no range, not even /0', (address) => {
    expect(parseAddress(address)).toBeNull();
    expect(compileCidrs(['0.0.0.0/0', '::/0'])(address)).toBe(false);
  });

  it.each(BAD_RANGES)('%j does not compile, and the config check rejects it', (range) => {
    expect(parseCidr(range)).toBeNull();
    expect(() => compileCidrs(['10.0.0.0/8', range])).toThrow(/invalid CIDR/);
    const problem = cidrProblem(range);
    expect(problem).not.toBeNull();
    expect(problem!.startsWith('warning:')).toBe(false);
  });

  it('an empty list matches nothing', () => {
    const none = compileCidrs([]);
    for (const a of ['10.0.0.1', '::1', '::ffff:127.0.0.1']) expect(none(a)).toBe(false);
  });

  it('answers the same after its cache of recent answers is cleared (10,000 addresses)', () => {
    const m = compileCidrs(['10.0.0.0/16']);
    for (let i = 0; i < 10_050; i++) {
      const a = `10.${(i >> 8) & 1}.${i & 0xff}.${(i >> 9) & 0xff}`;
      expect(m(a)).toBe(((i >> 8) & 1) === 0);
    }
    expect(m('10.0.1.1')).toBe(true);
    expect(m('10.1.1.1')).toBe(false);
  });
});

describe('parseAddress', () => {
  it.each([
    ['10.0.0.1', '00000000000000000000ffff0a000001'],
    ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['2001:db8::8a2e:370:7334', '20010db80000000000008a2e03707334'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['fe80::1%25eth0', 'fe800000000000000000000000000001'],
  ])('%s is %s', (text, hex) => {
    expect(Buffer.from(parseAddress(text)!).toString('hex')).toBe(hex);
  });
});

describe('cidrProblem (the config check) agrees with the matcher', () => {
  it.each([...new Set(MATCHES.flatMap(([ranges]) => ranges))])('%s is accepted by both', (range) => {
    expect(parseCidr(range)).not.toBeNull();
    const problem = cidrProblem(range);
    if (problem !== null) expect(problem).toMatch(/^warning:/);
  });

  it.each([
    ['10.1.2.3/8', true],
    ['10.0.0.0/8', false],
    ['2001:db8::1/32', true],
    ['2001:db8::/32', false],
    ['10.0.0.1', false],
    ['10.0.0.1/32', false],
    ['0.0.0.0/0', false],
    ['1.0.0.0/0', true],
    ['10.0.0.128/25', false],
    ['10.0.0.64/25', true],
  ])('%s: a warning about host bits: %s', (range, warned) => {
    const problem = cidrProblem(range);
    expect(problem === null ? false : problem.startsWith('warning:') && problem.includes('host bits')).toBe(warned);
  });
});
