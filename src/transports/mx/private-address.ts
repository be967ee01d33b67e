/**
 * Which addresses a public MX record must never send us to: loopback, private, link-local,
 * shared (CGNAT), multicast and reserved ranges. A domain whose MX points there is either
 * misconfigured or trying to make Herald talk to its own network (SSRF through DNS), so the
 * resolver refuses such hosts unless the operator allows them. Pure: no DNS, no sockets.
 */
import { BlockList, isIP } from 'node:net';

const IPV4_RANGES: readonly (readonly [string, number])[] = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // shared address space (RFC 6598)
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation ranges: never a real mail host
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, including broadcast
];

const IPV6_RANGES: readonly (readonly [string, number])[] = [
  ['::', 128], // unspecified
  ['::1', 128],
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
];

function buildBlockList(): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of IPV4_RANGES) list.addSubnet(network, prefix, 'ipv4');
  for (const [network, prefix] of IPV6_RANGES) list.addSubnet(network, prefix, 'ipv6');
  return list;
}

const NON_PUBLIC = buildBlockList();

/** IPv4 carried in IPv6 (`::ffff:10.0.0.1`) reaches the IPv4 host, so it is judged as IPv4. */
const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/** True when `address` is not a public unicast address; also true for anything not an IP. */
export function isNonPublicAddress(address: string): boolean {
  const mapped = MAPPED_IPV4.exec(address)?.[1];
  if (mapped !== undefined) return NON_PUBLIC.check(mapped, 'ipv4');
  const family = isIP(address);
  if (family === 4) return NON_PUBLIC.check(address, 'ipv4');
  if (family === 6) return NON_PUBLIC.check(address, 'ipv6');
  return true;
}
