/**
 * TLS towards `https://` targets (an upstream's `tls`: CA, client certificate for mTLS, SNI name,
 * verification). The files are read when a config version is compiled, so a reload re-reads them:
 * a renewed certificate is picked up, and the endpoints of the old one drain (their key holds a
 * fingerprint of what was read).
 *
 * The name checked against the target's certificate (and sent as SNI) is `tls.servername`, else
 * the host of the target's URL: a target written as a DNS name is connected to by address (the
 * primary resolves it), and its certificate names the DNS name, not the address.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

export interface UpstreamTlsConfig {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly servername?: string;
  readonly verify: boolean;
}

export interface UpstreamTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly servername?: string;
  readonly verify: boolean;
  /** sha256 of everything above: part of the endpoint key. */
  readonly fingerprint: string;
}

/** Reads an upstream's tls files (throws when one cannot be read: the compile, and the reload, fail). */
export function loadUpstreamTls(conf: UpstreamTlsConfig | undefined): UpstreamTls | null {
  if (conf === undefined) return null;
  const h = createHash('sha256');
  const read = (path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined;
    const b = readFileSync(path);
    h.update(path).update('\0').update(b).update('\0');
    return b;
  };
  const ca = read(conf.caFile);
  const cert = read(conf.certFile);
  const key = read(conf.keyFile);
  h.update(conf.servername ?? '').update(conf.verify ? '1' : '0');
  return { ca, cert, key, servername: conf.servername, verify: conf.verify, fingerprint: h.digest('hex').slice(0, 16) };
}

/** The host of a Host header value (no port, no IPv6 brackets). */
function hostOnly(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(1, hostHeader.indexOf(']'));
  const colon = hostHeader.lastIndexOf(':');
  return colon === -1 ? hostHeader : hostHeader.slice(0, colon);
}

/** The name an https target's certificate is checked against: tls.servername, else the URL's host. */
export function expectedName(hostHeader: string, t: UpstreamTls | null): string {
  return t?.servername ?? hostOnly(hostHeader);
}

/** The SNI name for a target ('' for an address: RFC 6066 carries names only). */
export function sniName(hostHeader: string, t: UpstreamTls | null): string {
  const name = expectedName(hostHeader, t);
  return isIP(name) === 0 ? name : '';
}

/**
 * What tls.connect needs for one https target: undefined for http://. The certificate is checked
 * against expectedName() whatever name the connection was opened with: undici would otherwise use
 * the request's Host header (the client's own, on a preserveHost route).
 */
export function tlsConnectOptions(origin: string, hostHeader: string, t: UpstreamTls | null): Record<string, unknown> | undefined {
  if (!origin.startsWith('https:')) return undefined;
  const name = expectedName(hostHeader, t);
  const opts: Record<string, unknown> = {
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(name, cert),
  };
  const sni = sniName(hostHeader, t);
  if (sni !== '') opts.servername = sni;
  if (t === null) return opts;
  if (t.ca !== undefined) opts.ca = t.ca;
  if (t.cert !== undefined) opts.cert = t.cert;
  if (t.key !== undefined) opts.key = t.key;
  opts.rejectUnauthorized = t.verify;
  return opts;
}
