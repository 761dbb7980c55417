/**
 * Two small demo services for `npm start` (the default config points at them), so the README's
 * curl lines answer at once: users on 127.0.0.1:9001 and orders on 127.0.0.1:9002.
 * They echo what the gateway forwarded (path, query, forwarding headers) to make it visible.
 */
import { createServer, type Server } from 'node:http';

const USERS = [
  { id: '1', name: 'Ada Lovelace', email: 'ada@example.com' },
  { id: '2', name: 'Alan Turing', email: 'alan@example.com' },
];
const ORDERS = [
  { id: 'o-100', user: '1', item: 'Analytical engine', total: 1842 },
  { id: 'o-101', user: '2', item: 'Bombe', total: 1939 },
  { id: 'o-102', user: '1', item: 'Punch cards', total: 12 },
];

function seen(req: import('node:http').IncomingMessage) {
  return {
    method: req.method,
    url: req.url,
    host: req.headers.host,
    'x-forwarded-for': req.headers['x-forwarded-for'],
    via: req.headers.via,
  };
}

function json(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function usersService(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://users');
    if (url.pathname === '/health') return json(res, 200, { status: 'ok' });
    if (url.pathname === '/users') return json(res, 200, { users: USERS, seen: seen(req) });
    const m = /^\/users\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const user = USERS.find((u) => u.id === m[1]);
      return user ? json(res, 200, { user, seen: seen(req) }) : json(res, 404, { error: 'no such user' });
    }
    json(res, 404, { error: 'not found', seen: seen(req) });
  });
}

export function ordersService(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://orders');
    if (url.pathname === '/health') return json(res, 200, { status: 'ok' });
    if (url.pathname === '/orders' && req.method !== 'POST') {
      const user = url.searchParams.get('user');
      return json(res, 200, { orders: user ? ORDERS.filter((o) => o.user === user) : ORDERS, seen: seen(req) });
    }
    const byUser = /^\/orders\/by-user\/([^/]+)$/.exec(url.pathname);
    if (byUser) return json(res, 200, { orders: ORDERS.filter((o) => o.user === byUser[1]), seen: seen(req) });
    if (url.pathname === '/orders' && req.method === 'POST') {
      let size = 0;
      req.on('data', (c: Buffer) => (size += c.length));
      req.on('end', () => json(res, 201, { created: true, receivedBytes: size, seen: seen(req) }));
      return;
    }
    json(res, 404, { error: 'not found', seen: seen(req) });
  });
}

export async function startDemoUpstreams(): Promise<Server[]> {
  const servers = [
    { server: usersService(), port: 9001 },
    { server: ordersService(), port: 9002 },
  ];
  await Promise.all(
    servers.map(({ server, port }) => new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    })),
  );
  return servers.map((s) => s.server);
}
