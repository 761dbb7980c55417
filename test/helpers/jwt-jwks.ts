/**
 * JWT test helpers: a real JWKS server (mutable key set, can answer errors, hang, or be down
 * with connection refused on the same port), and token minting with jose.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload, type JWTHeaderParameters } from 'jose';
import { KeyObject } from 'node:crypto';

export type JwksMode = 'ok' | 'error' | 'hang';

export interface JwksServer {
  readonly url: string;
  readonly port: number;
  /** GET requests received. */
  fetches: number;
  keys: JWK[];
  mode: JwksMode;
  /** Stop listening: connections are refused until up(). */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  const sockets = new Set<Socket>();
  let server: Server;
  const s: JwksServer = {
    url: '',
    port: 0,
    fetches: 0,
    keys,
    mode: 'ok',
    down: () => stop(),
    up: () => listen(s.port),
    close: () => stop(),
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    s.fetches++;
    if (s.mode === 'hang') return; // never answers; the socket is destroyed on close/down
    if (s.mode === 'error') {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('down for maintenance');
      return;
    }
    const body = JSON.stringify({ keys: s.keys });
    res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  function listen(port: number): Promise<void> {
    server = createServer(handler);
    server.on('connection', (sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        s.port ||= (server.address() as { port: number }).port;
        (s as { url: string }).url = `http://127.0.0.1:${s.port}/.well-known/jwks.json`;
        resolve();
      });
    });
  }
  function stop(): Promise<void> {
    return new Promise((resolve) => {
      for (const sock of sockets) sock.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  }
  await listen(0);
  return s;
}

export interface TestKey {
  alg: string;
  kid: string;
  /** A KeyObject, so jose signs with it under any algorithm (RS384 or PS256 with an RS256 key too). */
  privateKey: KeyObject;
  publicKey: CryptoKey | KeyObject;
  /** Public JWK with kid, alg and use. */
  jwk: JWK;
}

export async function newKey(alg: 'RS256' | 'ES256' | 'EdDSA' | 'PS256' | 'RS384', kid: string): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey: KeyObject.from(privateKey), publicKey, jwk };
}

/** Seconds since the epoch. */
export function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

export function mint(
  key: CryptoKey | KeyObject | Uint8Array,
  header: JWTHeaderParameters,
  claims: JWTPayload,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header).sign(key);
}

/** Base64url of a JSON value (to hand-build malformed or unsigned tokens). */
export function b64json(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}
