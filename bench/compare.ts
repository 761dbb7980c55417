/**
 * `--compare <old report.json>`: the change per scenario, connections and contender between two
 * reports, with regressions over the threshold (5%) flagged: fewer requests/s or more CPU µs per
 * request. The change of p99 is shown, not flagged: tail latency on a shared 2-core box moves by
 * tens of percent from run to run.
 */
import { readFileSync } from 'node:fs';
import { REPORT_SCHEMA, fmtRps, type Aggregate, type Report } from './report.js';

export interface CompareRow {
  scenario: string;
  connections: number;
  contender: string;
  label: string;
  rps: { old: number; new: number; change: number };
  cpuUsPerReq: { old: number; new: number; change: number } | null;
  p99Us: { old: number; new: number; change: number };
  regressions: string[];
}

export interface Comparison {
  old: { date: string; commit: string };
  new: { date: string; commit: string };
  thresholdPct: number;
  rows: CompareRow[];
  onlyInOld: string[];
  onlyInNew: string[];
  regressions: number;
}

export function readReport(path: string): Report {
  const r = JSON.parse(readFileSync(path, 'utf8')) as Report;
  if (r.schema !== REPORT_SCHEMA) throw new Error(`${path}: not a load suite report (schema ${String(r.schema)}, expected ${REPORT_SCHEMA})`);
  return r;
}

const key = (a: Aggregate) => `${a.scenario} @${a.connections} ${a.contender}`;

export function compareReports(oldR: Report, newR: Report, thresholdPct = 5): Comparison {
  const oldBy = new Map(oldR.aggregates.map((a) => [key(a), a]));
  const newBy = new Map(newR.aggregates.map((a) => [key(a), a]));
  const rows: CompareRow[] = [];
  const change = (o: number, n: number) => (o > 0 ? (n - o) / o : 0);
  for (const [k, n] of newBy) {
    const o = oldBy.get(k);
    if (!o) continue;
    const row: CompareRow = {
      scenario: n.scenario,
      connections: n.connections,
      contender: n.contender,
      label: n.label,
      rps: { old: o.rps.median, new: n.rps.median, change: change(o.rps.median, n.rps.median) },
      cpuUsPerReq:
        o.cpuUsPerReq && n.cpuUsPerReq
          ? { old: o.cpuUsPerReq.median, new: n.cpuUsPerReq.median, change: change(o.cpuUsPerReq.median, n.cpuUsPerReq.median) }
          : null,
      p99Us: { old: o.latencyUs.p99.median, new: n.latencyUs.p99.median, change: change(o.latencyUs.p99.median, n.latencyUs.p99.median) },
      regressions: [],
    };
    const t = thresholdPct / 100;
    if (row.rps.change < -t) row.regressions.push('req/s');
    if (row.cpuUsPerReq && row.cpuUsPerReq.change > t) row.regressions.push('CPU µs/req');
    rows.push(row);
  }
  return {
    old: { date: oldR.meta.date, commit: oldR.meta.gateway.commit },
    new: { date: newR.meta.date, commit: newR.meta.gateway.commit },
    thresholdPct,
    rows,
    onlyInOld: [...oldBy.keys()].filter((k) => !newBy.has(k)),
    onlyInNew: [...newBy.keys()].filter((k) => !oldBy.has(k)),
    regressions: rows.filter((r) => r.regressions.length > 0).length,
  };
}

function signed(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
}

export function formatComparison(c: Comparison, markdown = false): string {
  const head = ['scenario', 'conns', 'contender', 'req/s old → new', 'Δ req/s', 'CPU µs/req old → new', 'Δ CPU/req', 'Δ p99', 'flag'];
  const rows = c.rows.map((r) => [
    r.scenario,
    `${r.connections}`,
    r.label,
    `${fmtRps(r.rps.old)} → ${fmtRps(r.rps.new)}`,
    signed(r.rps.change),
    r.cpuUsPerReq ? `${r.cpuUsPerReq.old.toFixed(1)} → ${r.cpuUsPerReq.new.toFixed(1)}` : '–',
    r.cpuUsPerReq ? signed(r.cpuUsPerReq.change) : '–',
    signed(r.p99Us.change),
    r.regressions.length ? `REGRESSION (${r.regressions.join(', ')})` : '',
  ]);
  const title = `Compared with ${c.old.date} (${c.old.commit}) → ${c.new.date} (${c.new.commit}); regressions are changes over ${c.thresholdPct}% for the worse.`;
  const tail: string[] = [];
  if (c.onlyInOld.length) tail.push(`only in the old report: ${c.onlyInOld.join(', ')}`);
  if (c.onlyInNew.length) tail.push(`only in the new report: ${c.onlyInNew.join(', ')}`);
  tail.push(c.regressions ? `${c.regressions} regression(s) over ${c.thresholdPct}%.` : `no regression over ${c.thresholdPct}%.`);
  if (markdown) {
    const lines = [title, '', `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`), '', ...tail.map((t) => `- ${t}`)];
    return lines.join('\n');
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((x, i) => (i <= 2 || i === 8 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ').trimEnd();
  return [title, '', line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), '', ...tail].join('\n');
}
