import net from 'node:net';

/** A set of addresses and CIDR blocks, IPv4 and IPv6 (IPv4-mapped IPv6 peers match IPv4 blocks). */
export function addressMatcher(entries: readonly string[]): (address: string | undefined) => boolean {
  if (entries.length === 0) return () => false;
  const list = new net.BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/') as [string, string | undefined];
    const type = net.isIPv6(addr) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return (address) => {
    if (!address) return false;
    if (address.startsWith('::ffff:') && net.isIPv4(address.slice(7))) return list.check(address.slice(7), 'ipv4');
    return list.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');
  };
}

/** Checks one CIDR entry (the schema checks the shape; this checks the numbers). */
export function cidrProblem(entry: string): string | null {
  const [addr, bits] = entry.split('/') as [string, string | undefined];
  const v = net.isIP(addr);
  if (v === 0) return 'is not an IP address';
  if (bits !== undefined && (Number(bits) > (v === 4 ? 32 : 128))) return `prefix /${bits} is too long for IPv${v}`;
  return null;
}
