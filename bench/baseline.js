// The baseline every delivery row is compared with: the script Herald replaces, a nodemailer
// pool sending the same personalised messages straight to the same sink.
import net from 'node:net';
import nodemailer from 'nodemailer';

/**
 * nodemailer leaves Nagle's algorithm on, and writes a message's body and its terminating dot in
 * separate small writes: on Linux loopback the second waits for the sink's delayed ACK (~40 ms),
 * capping a pool at ~90 msg/s. That would make any comparison meaningless, so the baseline gets
 * TCP_NODELAY on its sockets, as a tuned deployment would: the ratio is against nodemailer at its
 * best, not at its default.
 */
function withNoDelay(run) {
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...args) {
    this.setNoDelay(true);
    return connect.apply(this, args);
  };
  return run().finally(() => {
    net.Socket.prototype.connect = connect;
  });
}

export function nodemailerPool(options) {
  return withNoDelay(() => run(options));
}

async function run({ port, messages, connections, deadlineMs }) {
  const transport = nodemailer.createTransport({ pool: true, host: '127.0.0.1', port, maxConnections: connections, maxMessages: Infinity, ignoreTLS: true });
  const started = performance.now();
  let sent = 0;
  let next = 0;
  const worker = async () => {
    while (next < messages && performance.now() - started < deadlineMs) {
      const i = next++;
      await transport.sendMail({
        from: 'Shop <shop@example.com>',
        to: `user${i}@example.org`,
        subject: `Your order #${i} has shipped`,
        text: `Hello customer ${i},\nyour order is on its way.\n`,
        html: `<p>Hello customer <b>${i}</b>,</p><p>your order is on its way.</p>`,
      });
      sent += 1;
    }
  };
  await Promise.all(Array.from({ length: connections * 4 }, worker));
  const seconds = (performance.now() - started) / 1000;
  transport.close();
  return { sent, seconds, rate: sent / seconds };
}
