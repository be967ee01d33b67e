/**
 * The part of dns2 2.1 (which ships no types) that Herald's tests use: a UDP DNS server on
 * loopback whose handler answers from scripted zones. Field names are dns2's own.
 */
declare module 'dns2' {
  import type { AddressInfo } from 'node:net';

  export interface DnsQuestion {
    name: string;
    type: number;
    class: number;
  }

  /** One resource record; which data field is set depends on `type`. */
  export interface DnsResource {
    name: string;
    type: number;
    class: number;
    ttl: number;
    /** A, AAAA */
    address?: string;
    /** MX; "." for a null MX */
    exchange?: string;
    /** MX preference */
    priority?: number;
    /** CNAME target */
    domain?: string;
    /** TXT: one string, or the several strings of one record */
    data?: string | string[];
  }

  export interface DnsPacket {
    /** `rcode`: 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN. */
    header: { id: number; rcode: number };
    questions: DnsQuestion[];
    answers: DnsResource[];
    authorities: DnsResource[];
  }

  export interface DnsServerOptions {
    udp?: boolean;
    /** Answer by calling `send`; not calling it leaves the query unanswered. */
    handle: (request: DnsPacket, send: (response: DnsPacket) => Promise<unknown>) => void;
  }

  export interface DnsServer {
    /** Port 0 picks a free port; read it from `addresses()` once this resolves. */
    listen(options: { udp?: { port: number; address?: string; type?: 'udp4' | 'udp6' } }): Promise<unknown>;
    addresses(): { udp?: AddressInfo };
    close(): Promise<void>;
  }

  export interface Dns2 {
    createServer(options: DnsServerOptions): DnsServer;
    Packet: {
      TYPE: { A: number; CNAME: number; MX: number; AAAA: number; TXT: number };
      CLASS: { IN: number };
      createResponseFromRequest(request: DnsPacket): DnsPacket;
    };
  }

  const dns2: Dns2;
  export default dns2;
}
