import { isIPv4, isIPv6 } from 'node:net';
import { describeValue, ValidationError } from '../errors.js';

/** Options of {@link ipKey}. */
export interface IpKeyOptions {
  /**
   * Prefix length that identifies one IPv6 client (default 56: one end-user
   * site). A single IPv6 client usually controls a whole /64 or more, so
   * keying by full address would let it rotate addresses to dodge limits.
   */
  ipv6Subnet?: number;
}

/**
 * The rate-limit key of a client address: an IPv4 address as is, an
 * IPv4-mapped IPv6 address as its IPv4 form, and an IPv6 address as its
 * subnet (`2001:db8:abcd:1200::/56`). Throws `ERR_TOLLGATE_INVALID_KEY` for
 * anything that is not an IP address.
 *
 * @example
 * ipKey('::ffff:203.0.113.9')          // '203.0.113.9'
 * ipKey('2001:db8:abcd:1234:5:6:7:8')  // '2001:db8:abcd:1200::/56'
 */
export function ipKey(address: string | undefined, options: IpKeyOptions = {}): string {
  const subnet = options.ipv6Subnet ?? 56;
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 128) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`ipv6Subnet\` to be an integer from 1 to 128, got ${describeValue(subnet)}`,
      'ipv6Subnet',
    );
  }
  if (typeof address === 'string' && isIPv4(address)) return address;
  const bare = typeof address === 'string' ? address.replace(/%.*$/, '') : address;
  if (typeof bare !== 'string' || !isIPv6(bare)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_KEY',
      `Expected a client IP address, got ${describeValue(address)}`,
      'entity',
    );
  }
  const groups = ipv6Groups(bare);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return `${formatIpv6(maskGroups(groups, subnet))}/${subnet}`;
}

/** The eight 16-bit groups of a valid IPv6 address (embedded IPv4 tail included). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16));
}

function maskGroups(groups: number[], prefix: number): number[] {
  return groups.map((group, index) => {
    const bits = Math.min(16, Math.max(0, prefix - index * 16));
    return bits === 0 ? 0 : group & (0xffff << (16 - bits)) & 0xffff;
  });
}

/** RFC 5952 text form: lowercase, longest run of zero groups compressed. */
function formatIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start += 1) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length += 1;
    if (length > bestLength) {
      bestStart = start;
      bestLength = length;
    }
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
