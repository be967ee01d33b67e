// The SMTP sink every bench row delivers to: Postfix's smtp-sink when it is installed (the
// classic benchmark peer, written in C), else a minimal pipelining sink in Node. Both answer 250
// to everything and keep nothing, so the figures measure the sender.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, deadlineMs = 5000) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`sink did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A pipelining sink in Node: answers each command line and each end of data with 250. */
function nodeSink(port) {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.write('220 bench-sink ESMTP\r\n');
    let inData = false;
    let carry = '';
    socket.on('data', (chunk) => {
      const text = carry + chunk.toString('latin1');
      const lines = text.split('\r\n');
      carry = lines.pop();
      let out = '';
      for (const line of lines) {
        if (inData) {
          if (line === '.') {
            inData = false;
            out += '250 2.0.0 Ok: queued\r\n';
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') out += '250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n';
        else if (verb === 'DATA') {
          inData = true;
          out += '354 End data with <CR><LF>.<CR><LF>\r\n';
        } else if (verb === 'QUIT') {
          socket.end('221 2.0.0 Bye\r\n');
          return;
        } else out += '250 2.0.0 Ok\r\n';
      }
      if (out) socket.write(out);
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ kind: 'node sink', port, close: () => new Promise((r) => server.close(r)) })));
}

export async function startSink(prefer = 'auto') {
  const port = await freePort();
  if (prefer === 'node') return nodeSink(port);
  const found = spawnSync('sh', ['-c', 'command -v smtp-sink || ls /usr/sbin/smtp-sink'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  if (found) {
    const args = ['-u', process.getuid?.() === 0 ? 'nobody' : String(process.env.USER ?? 'nobody'), `127.0.0.1:${port}`, '1024'];
    const child = spawn(found, args, { stdio: 'ignore' });
    await waitForPort(port);
    return {
      kind: 'postfix smtp-sink',
      port,
      close: () =>
        new Promise((resolve) => {
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    };
  }
  return nodeSink(port);
}
