/**
 * SVG charts for the report, written by hand (no dependency): grouped horizontal bars (req/s,
 * CPU µs/request, with min–max whiskers) and HdrHistogram percentile-distribution plots (latency
 * against a log-scaled 1/(1-p) axis).
 */
import { decode, newHistogram, percentileCurve } from './histogram.js';
import type { Aggregate, Report } from './report.js';
import type { ContenderName } from './scenarios.js';

const COLORS: Record<ContenderName, string> = {
  baseline: '#9467bd',
  direct: '#8c8c8c',
  gateway: '#1f6feb',
  reference: '#79b8ff',
  nginx: '#2da44e',
  haproxy: '#cf222e',
  caddy: '#1b7c83',
  peer: '#d4760b',
  'floor-engine': '#bbbbbb',
  'floor-addon': '#dddddd',
};

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtNum(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(n < 10 ? 2 : 1)}`;
}

interface Bar {
  label: string;
  contender: ContenderName;
  value: number;
  min: number;
  max: number;
}

/** Grouped horizontal bars with min–max whiskers. */
export function barChart(title: string, unit: string, groups: Array<{ label: string; bars: Bar[] }>): string {
  const barH = 16;
  const gap = 4;
  const groupGap = 18;
  const left = 300;
  const width = 960;
  const plotW = width - left - 90;
  const top = 48;
  let height = top;
  for (const g of groups) height += 20 + g.bars.length * (barH + gap) + groupGap;
  height += 40;
  const vmax = niceMax(Math.max(1, ...groups.flatMap((g) => g.bars.map((b) => Math.max(b.value, b.max)))));
  const x = (v: number) => left + (v / vmax) * plotW;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  parts.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="600">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (vmax * i) / 5;
    const xx = x(v);
    parts.push(`<line x1="${xx}" y1="${top - 6}" x2="${xx}" y2="${height - 34}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${xx}" y="${height - 20}" text-anchor="middle" fill="#555">${fmtNum(v)}</text>`);
  }
  parts.push(`<text x="${left + plotW / 2}" y="${height - 4}" text-anchor="middle" fill="#333">${esc(unit)}</text>`);
  let y = top;
  for (const g of groups) {
    parts.push(`<text x="8" y="${y + 12}" font-weight="600">${esc(g.label)}</text>`);
    y += 20;
    for (const b of g.bars) {
      const w = Math.max(1, x(b.value) - left);
      parts.push(`<text x="${left - 8}" y="${y + barH - 4}" text-anchor="end" fill="#333">${esc(b.label)}</text>`);
      parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[b.contender]}"><title>${esc(`${g.label} ${b.label}: ${fmtNum(b.value)} (${fmtNum(b.min)}–${fmtNum(b.max)}) ${unit}`)}</title></rect>`);
      if (b.max > b.min) {
        const cy = y + barH / 2;
        parts.push(`<line x1="${x(b.min).toFixed(1)}" y1="${cy}" x2="${x(b.max).toFixed(1)}" y2="${cy}" stroke="#000" stroke-width="1.2"/>`);
        parts.push(`<line x1="${x(b.min).toFixed(1)}" y1="${cy - 4}" x2="${x(b.min).toFixed(1)}" y2="${cy + 4}" stroke="#000"/>`);
        parts.push(`<line x1="${x(b.max).toFixed(1)}" y1="${cy - 4}" x2="${x(b.max).toFixed(1)}" y2="${cy + 4}" stroke="#000"/>`);
      }
      parts.push(`<text x="${(Math.max(x(b.value), x(b.max)) + 6).toFixed(1)}" y="${y + barH - 4}" fill="#111">${fmtNum(b.value)}</text>`);
      y += barH + gap;
    }
    y += groupGap;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/**
 * HdrHistogram percentile distribution: x = log10(1 / (1 - p)), labelled 0%, 90%, 99%, 99.9% ...;
 * y = latency in ms.
 */
export function latencyChart(title: string, series: Array<{ label: string; contender: ContenderName; points: Array<{ p: number; v: number }> }>): string {
  const width = 960;
  const height = 480;
  const left = 70;
  const right = 50;
  const top = 44;
  const bottom = 50;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const maxP = Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.p)));
  const decades = Math.min(7, Math.max(3, Math.ceil(-Math.log10(Math.max(1e-9, 1 - maxP / 100)))));
  const xOf = (p: number) => left + (Math.min(decades, -Math.log10(Math.max(1e-12, 1 - p / 100))) / decades) * plotW;
  const vmax = niceMax(Math.max(0.001, ...series.flatMap((s) => s.points.map((p) => p.v / 1000))));
  const yOf = (ms: number) => top + plotH - (ms / vmax) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  parts.push(`<text x="${left + plotW / 2}" y="24" text-anchor="middle" font-size="16" font-weight="600">${esc(title)}</text>`);
  for (let d = 0; d <= decades; d++) {
    const p = 100 * (1 - 10 ** -d);
    const xx = xOf(p);
    const label = d === 0 ? '0%' : `${+p.toFixed(d)}%`;
    parts.push(`<line x1="${xx}" y1="${top}" x2="${xx}" y2="${top + plotH}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${xx}" y="${top + plotH + 18}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const v = (vmax * i) / 5;
    const yy = yOf(v);
    parts.push(`<line x1="${left}" y1="${yy}" x2="${left + plotW}" y2="${yy}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${left - 8}" y="${yy + 4}" text-anchor="end" fill="#555">${+v.toFixed(3)}</text>`);
  }
  parts.push(`<text x="${left + plotW / 2}" y="${height - 12}" text-anchor="middle" fill="#333">percentile (log scale of 1/(1−p))</text>`);
  parts.push(`<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">latency (ms)</text>`);
  parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  series.forEach((s) => {
    if (s.points.length === 0) return;
    const d = s.points.map((pt, j) => `${j ? 'L' : 'M'}${xOf(pt.p).toFixed(1)},${yOf(pt.v / 1000).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${COLORS[s.contender]}" stroke-width="2"/>`);
  });
  // legend, top left inside the plot (the curves rise to the right)
  const legendW = 20 + 7 * Math.max(...series.map((s) => s.label.length));
  parts.push(`<rect x="${left + 10}" y="${top + 10}" width="${legendW + 30}" height="${series.length * 20 + 8}" fill="#fff" fill-opacity="0.9" stroke="#ccc"/>`);
  series.forEach((s, i) => {
    const ly = top + 24 + i * 20;
    parts.push(`<line x1="${left + 18}" y1="${ly}" x2="${left + 38}" y2="${ly}" stroke="${COLORS[s.contender]}" stroke-width="3"/>`);
    parts.push(`<text x="${left + 44}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export interface ChartFiles {
  /** file name -> SVG text */
  files: Map<string, string>;
  rps?: string;
  cpu?: string;
  latency: Array<{ file: string; title: string }>;
}

function groupsOf(r: Report, value: (a: Aggregate) => { v: number; min: number; max: number } | null): Array<{ label: string; bars: Bar[] }> {
  const groups: Array<{ label: string; bars: Bar[] }> = [];
  for (const s of r.scenarios) {
    if (s.status !== 'ran') continue;
    for (const c of s.connections) {
      const bars: Bar[] = [];
      for (const a of r.aggregates.filter((x) => x.scenario === s.name && x.connections === c)) {
        const v = value(a);
        if (v) bars.push({ label: a.label, contender: a.contender, value: v.v, min: v.min, max: v.max });
      }
      if (bars.length) groups.push({ label: `${s.name} @ ${c} conns`, bars });
    }
  }
  return groups;
}

export function buildCharts(r: Report): ChartFiles {
  const files = new Map<string, string>();
  const out: ChartFiles = { files, latency: [] };
  const rpsGroups = groupsOf(r, (a) => ({ v: a.rps.median, min: a.rps.min, max: a.rps.max }));
  if (rpsGroups.length) {
    files.set('rps.svg', barChart('Requests/s per contender (median, whiskers min–max)', 'requests per second', rpsGroups));
    out.rps = 'rps.svg';
  }
  const cpuGroups = groupsOf(r, (a) => (a.cpuUsPerReq ? { v: a.cpuUsPerReq.median, min: a.cpuUsPerReq.min, max: a.cpuUsPerReq.max } : null));
  if (cpuGroups.length) {
    files.set('cpu.svg', barChart('CPU µs per request of the contender (median, whiskers min–max; lower is better)', 'CPU microseconds per request', cpuGroups));
    out.cpu = 'cpu.svg';
  }
  for (const s of r.scenarios) {
    if (s.status !== 'ran') continue;
    for (const c of s.connections) {
      const series = [];
      for (const a of r.aggregates.filter((x) => x.scenario === s.name && x.connections === c)) {
        const merged = newHistogram();
        for (const run of r.runs.filter((x) => x.scenario === s.name && x.connections === c && x.contender === a.contender)) merged.add(decode(run.hist));
        series.push({ label: a.label, contender: a.contender, points: percentileCurve(merged) });
      }
      if (!series.length) continue;
      const file = `latency-${s.name}-${c}.svg`;
      const title = `Latency by percentile: ${s.name}, ${c} connections (all rounds)`;
      files.set(file, latencyChart(title, series));
      out.latency.push({ file, title });
    }
  }
  return out;
}
