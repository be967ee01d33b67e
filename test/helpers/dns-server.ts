/**
 * A real DNS server on 127.0.0.1 (dns2, UDP, a free port) answering MX, A, TXT and CNAME questions
 * from a scripted zone map; names not in the map are NXDOMAIN. The map may be changed while the
 * server runs (a test publishing a record). For tests of direct-to-MX delivery and domain checks.
 */
import dns2, { type DnsPacket, type DnsResource } from 'dns2';

const { Packet } = dns2;

export interface ZoneEntry {
  mx?: [preference: number, exchange: string][];
  a?: string[];
  /** TXT records: each a string, or the several strings of one long record. */
  txt?: (string | string[])[];
  /** An alias: answers every question about the name with this CNAME (and the target's records, when the map has them). */
  cname?: string;
}

export interface TestDnsServer {
  /** `127.0.0.1:port`, for `--dns-servers`. */
  address: string;
  queries: string[];
  close: () => Promise<void>;
}

function answersFor(name: string, zone: ZoneEntry, type: number): DnsResource[] {
  const base = { name, class: Packet.CLASS.IN, ttl: 300 };
  if (type === Packet.TYPE.MX) return (zone.mx ?? []).map(([priority, exchange]) => ({ ...base, type, priority, exchange }));
  if (type === Packet.TYPE.A) return (zone.a ?? []).map((address) => ({ ...base, type, address }));
  if (type === Packet.TYPE.TXT) return (zone.txt ?? []).map((data) => ({ ...base, type, data }));
  return [];
}

export async function startDnsServer(zones: Record<string, ZoneEntry>): Promise<TestDnsServer> {
  const queries: string[] = [];
  const server = dns2.createServer({
    udp: true,
    handle: (request: DnsPacket, send: (response: DnsPacket) => Promise<unknown>) => {
      const question = request.questions[0];
      if (question === undefined) return;
      const name = question.name.toLowerCase();
      queries.push(`${name} ${question.type}`);
      const zone = zones[name];
      const response = Packet.createResponseFromRequest(request);
      if (zone === undefined) response.header.rcode = 3;
      else if (zone.cname !== undefined) {
        const target = zone.cname.toLowerCase();
        response.answers.push({ name, class: Packet.CLASS.IN, ttl: 300, type: Packet.TYPE.CNAME, domain: target });
        const aliased = zones[target];
        if (question.type !== Packet.TYPE.CNAME && aliased !== undefined) response.answers.push(...answersFor(target, aliased, question.type));
      } else response.answers.push(...answersFor(name, zone, question.type));
      void send(response);
    },
  });
  await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const port = server.addresses().udp?.port;
  if (port === undefined) throw new Error('the test DNS server did not bind');
  return { address: `127.0.0.1:${port}`, queries, close: () => server.close() };
}
