/**
 * The address a request comes from: the peer's, or, when the peer is a proxy listed in TRUST_PROXY, the rightmost
 * address in `X-Forwarded-For` that is not one of those proxies (the hops to its left could be written by anyone).
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { SwitchboardError } from '../errors.ts';

export type SourceAddress = (req: IncomingMessage) => string;

/** `proxies`: addresses and CIDR ranges (`10.0.0.0/8`, `fd00::/8`), as TRUST_PROXY lists them. */
export function sourceAddressResolver(proxies: readonly string[]): SourceAddress {
  const peer = (req: IncomingMessage) => unmapped(req.socket.remoteAddress ?? '');
  if (proxies.length === 0) return peer;
  const trusted = trustList(proxies);
  const isTrusted = (address: string) => {
    const family = isIP(address);
    return family !== 0 && trusted.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
  return (req) => {
    let address = peer(req);
    const forwarded = req.headers['x-forwarded-for'];
    if (!isTrusted(address) || forwarded === undefined) return address;
    const hops = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded).split(',');
    for (let i = hops.length - 1; i >= 0 && isTrusted(address); i--) {
      const hop = unmapped(hops[i].trim());
      if (isIP(hop) === 0) break; // a hop that is no address ends what can be believed
      address = hop;
    }
    return address;
  };
}

function trustList(proxies: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of proxies) {
    const [address, prefix] = entry.split('/');
    const family = isIP(address);
    const bits = prefix === undefined ? undefined : Number(prefix);
    const maxBits = family === 4 ? 32 : 128;
    if (family === 0 || (bits !== undefined && !(Number.isInteger(bits) && bits >= 0 && bits <= maxBits))) {
      throw new SwitchboardError('E_CONFIG_INVALID', `TRUST_PROXY has "${entry}": expected an IP address or a CIDR range such as 10.0.0.0/8`);
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, bits, type);
  }
  return list;
}

/** `::ffff:10.0.0.1`, as a dual-stack socket reports an IPv4 peer, is 10.0.0.1. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
