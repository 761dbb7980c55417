/** Number formatting and tables shared by the report, its sections and the comparison. */

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length === 0 ? 0 : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  return { median, min: s[0] ?? 0, max: s[s.length - 1] ?? 0 };
}

export function fmtRps(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)}k`;
  return n.toFixed(n >= 100 ? 0 : 1);
}

export function fmtMs(us: number): string {
  const ms = us / 1000;
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

export function fmtUs(us: number): string {
  return us >= 100 ? us.toFixed(0) : us.toFixed(1);
}

export function range(s: Stat, f: (n: number) => string): string {
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

export function pct(r: number | null): string {
  return r === null ? '–' : `${(r * 100).toFixed(0)}%`;
}

export function ratio(r: number | null): string {
  return r === null ? '–' : `${r.toFixed(2)}×`;
}

export function mdTable(head: string[], rows: string[][], align: Array<'l' | 'r'>): string {
  const sep = align.map((a) => (a === 'r' ? '---:' : '---'));
  return [head, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

export function signedUs(x: number | null): string {
  return x === null ? '–' : `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;
}

export function signedPct(x: number | null): string {
  return x === null ? '–' : `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}%`;
}

export function cpuCell(x: number | null): string {
  return x === null ? '–' : fmtUs(x);
}

export function pctFine(x: number): string {
  const p = x * 100;
  return `${p >= 10 ? p.toFixed(1) : p >= 1 ? p.toFixed(2) : p.toFixed(3)}%`;
}

export function textTable(head: string[], rows: string[][], align: Array<'l' | 'r'>): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (align[i] === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

