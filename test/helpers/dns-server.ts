/**
 * A real DNS server on 127.0.0.1 (dns2, UDP, a free port) answering MX and A questions from a
 * scripted zone map; names not in the map are NXDOMAIN. For tests of direct-to-MX delivery.
 */
import dns2, { type DnsPacket, type DnsResource } from 'dns2';

const { Packet } = dns2;

export interface ZoneEntry {
  mx?: [preference: number, exchange: string][];
  a?: string[];
}

export interface TestDnsServer {
  /** `127.0.0.1:port`, for `--dns-servers`. */
  address: string;
  queries: string[];
  close: () => Promise<void>;
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
      else {
        const base = { name, class: Packet.CLASS.IN, ttl: 300 };
        const answers: DnsResource[] =
          question.type === Packet.TYPE.MX
            ? (zone.mx ?? []).map(([priority, exchange]) => ({ ...base, type: Packet.TYPE.MX, priority, exchange }))
            : question.type === Packet.TYPE.A
              ? (zone.a ?? []).map((address) => ({ ...base, type: Packet.TYPE.A, address }))
              : [];
        response.answers.push(...answers);
      }
      void send(response);
    },
  });
  await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const port = server.addresses().udp?.port;
  if (port === undefined) throw new Error('the test DNS server did not bind');
  return { address: `127.0.0.1:${port}`, queries, close: () => server.close() };
}
