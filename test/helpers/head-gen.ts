/**
 * Generated request heads for the header-forwarding tests (test/native/head-forward-diff.test.ts,
 * test/integration/head-forwarding.test.ts): every name the gateway treats specially, in any
 * case and order, repeated or not, with values padded, empty, long, malformed or with 8-bit bytes.
 */
import { Gen } from '../native/http-response-gen.js';

const NAMES = [
  'user-agent', 'Accept', 'accept-language', 'Cookie', 'x-custom', 'X-Mixed-Case', 'x_under_score', 'cache-control',
  'proxy-authorization', 'Proxy-Foo', 'proxy', 'connection', 'keep-alive', 'te', 'trailer', 'x-original-url', 'x-rewrite-url',
  'x-real-ip', 'x-forwarded-for', 'X-Forwarded-Proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'forwarded',
  'via', 'traceparent', 'tracestate', 'content-length', 'transfer-encoding', 'authorization', 'x-request-id', 'referer',
  // Names past 64 bytes (the native filter's lower-cased prefix): plain, dropped by prefix, by '_'.
  'a', 'x-' + 'n'.repeat(70), 'proxy-' + 'n'.repeat(70), 'x_' + 'n'.repeat(70), 'sec-ch-ua', 'if-none-match',
];

export const VALID_TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

export class HeadGen extends Gen {
  /** A field value: printable ASCII, inner spaces, sometimes padded, empty, long or with 8-bit bytes. */
  value(name: string): string {
    const n = name.toLowerCase();
    if (n === 'connection') return this.pick(['close', 'keep-alive', 'Keep-Alive, close', 'x-custom', 'keep-alive, X-Mixed-Case', ' close ', '', 'upgrade']);
    if (n === 'content-length') return this.pick(['0', '0', '00', '12a', '', ' 0', '99999999999']);
    if (n === 'transfer-encoding') return 'chunked';
    if (n === 'traceparent') return this.pick([VALID_TP, 'garbage', VALID_TP.replace('-01', '-00')]);
    if (n === 'tracestate') return this.pick(['a=1', 'vendor=x,b=2']);
    const pad = this.chance(0.2) ? this.pick([' ', '\t', '  ', ' \t']) : '';
    let v = '';
    const len = this.chance(0.05) ? 300 + this.int(200) : this.int(40);
    for (let i = 0; i < len; i++) v += String.fromCharCode(this.chance(0.1) ? 0x20 : 0x21 + this.int(94));
    if (this.chance(0.04)) v = v + '\xe9' + 'x';
    return pad + v.trim() + (this.chance(0.15) ? this.pick([' ', '\t ']) : '') ;
  }
  /**
   * A GET head for `target`: a Host line and up to 13 generated lines in random order; with
   * `bodyless`, never a Transfer-Encoding (whose body would be awaited).
   */
  head(target = '/p?q=1', bodyless = false): string {
    const lines = [`Host: ${this.pick(['example.test', 'example.test:8080', 'a.b'])}`];
    const count = this.int(14);
    for (let i = 0; i < count; i++) {
      const name = this.pick(NAMES);
      if (name === 'transfer-encoding' && (bodyless || !this.chance(0.3))) continue;
      lines.splice(this.int(lines.length + 1), 0, `${name}:${this.chance(0.8) ? ' ' : ''}${this.value(name)}`);
    }
    return `GET ${target} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
  }
}

