/**
 * /proc readers for the load suite: CPU time of a process tree (utime + stime), the CPU time of
 * this process's reaped children (cutime + cstime: how the load generator's CPU is measured), and
 * what machine this is.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';

let ticksPerSecond = 0;

/** Kernel clock ticks per second (the unit of utime/stime in /proc/<pid>/stat). */
export function clockTicks(): number {
  if (ticksPerSecond) return ticksPerSecond;
  try {
    ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    ticksPerSecond = 100; // the value on every Linux architecture Node runs on
  }
  return ticksPerSecond;
}

/** Fields of /proc/<pid>/stat after "(comm)" (which may contain spaces): index 0 is field 3 (state). */
function statFields(pid: number | 'self'): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null; // the process ended
  }
}

/** utime + stime of one process, in seconds (0 when it is gone). */
export function processCpuSeconds(pid: number): number {
  const t = processCpuSplit(pid);
  return t.user + t.system;
}

/** CPU time of a process split into user and system (kernel) time, in seconds. */
export interface CpuSplit {
  user: number;
  system: number;
}

/** utime and stime of one process, in seconds (0 and 0 when it is gone). */
export function processCpuSplit(pid: number): CpuSplit {
  const f = statFields(pid);
  if (!f) return { user: 0, system: 0 };
  // man 5 proc: (14) utime, (15) stime; f[0] is field 3.
  const hz = clockTicks();
  return { user: Number(f[11]) / hz, system: Number(f[12]) / hz };
}

/**
 * cutime + cstime of this process, in seconds: CPU used by children (and their descendants) that
 * this process has waited for. Read before a child starts and after its 'exit' event, the
 * difference is the child's whole CPU, even for a child (wrk) that is not a Node process.
 */
export function reapedChildrenCpuSeconds(): number {
  const f = statFields('self');
  if (!f) return 0;
  return (Number(f[13]) + Number(f[14])) / clockTicks();
}

/** Every process whose parent is `pid`, recursively (workers of a primary, nginx's workers). */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f) parentOf.set(Number(name), Number(f[1]));
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out.sort((a, b) => a - b);
}

/**
 * CPU accounting of a process tree between two instants. The tree is listed at start (a worker
 * that dies mid-run is still counted up to its last reading; one that is born mid-run is added at
 * the end with all its CPU).
 */
export class TreeCpu {
  private readonly start = new Map<number, CpuSplit>();
  private readonly last = new Map<number, CpuSplit>();
  private used: CpuSplit = { user: 0, system: 0 };

  constructor(private readonly root: number) {}

  begin(): void {
    this.start.clear();
    this.last.clear();
    for (const pid of [this.root, ...descendants(this.root)]) {
      const t = processCpuSplit(pid);
      this.start.set(pid, t);
      this.last.set(pid, t);
    }
  }

  /** Seconds of CPU the tree used since begin() (user + system; split() has the parts). */
  end(): number {
    for (const pid of [this.root, ...descendants(this.root)]) {
      const t = processCpuSplit(pid);
      if (!this.start.has(pid)) this.start.set(pid, { user: 0, system: 0 });
      if (t.user + t.system > 0) this.last.set(pid, t);
    }
    const used = { user: 0, system: 0 };
    for (const [pid, t0] of this.start) {
      const t1 = this.last.get(pid) ?? t0;
      used.user += Math.max(0, t1.user - t0.user);
      used.system += Math.max(0, t1.system - t0.system);
    }
    this.used = used;
    return used.user + used.system;
  }

  /** The last end()'s CPU time as user and system time. */
  split(): CpuSplit {
    return this.used;
  }

  pids(): number[] {
    return [this.root, ...descendants(this.root)];
  }
}

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  let os = 'unknown';
  try {
    const rel = readFileSync('/etc/os-release', 'utf8');
    os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(rel)?.[1] ?? os;
  } catch {
    /* not Linux */
  }
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* not Linux */
  }
  let memoryGiB = 0;
  try {
    const m = /MemTotal:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
    memoryGiB = m ? Math.round(Number(m[1]) / 1024 / 1024) : 0;
  } catch {
    /* not Linux */
  }
  return { cores: c.length, cpuModel: c[0]?.model.trim() ?? 'unknown', memoryGiB, kernel, os, node: process.version };
}

/** `git describe --always --dirty` of the checkout at `root`, or "unknown". */
export function gitCommit(root: string): string {
  try {
    return execFileSync('git', ['-C', root, 'describe', '--always', '--dirty', '--abbrev=12'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'unknown';
  }
}

/** Absolute path of `cmd` on PATH, or null. */
export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const p = `${dir}/${cmd}`;
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

interface ProcSample {
  ppid: number;
  /** utime + stime, ticks */
  own: number;
  /** cutime + cstime, ticks */
  reaped: number;
}

function sampleAll(): Map<number, ProcSample> {
  const out = new Map<number, ProcSample>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (!f) continue;
    out.set(Number(name), { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) });
  }
  return out;
}

function treeOf(root: number, all: Map<number, ProcSample>): Set<number> {
  const set = new Set<number>([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, s] of all) {
      if (!set.has(pid) && set.has(s.ppid)) {
        set.add(pid);
        grew = true;
      }
    }
  }
  return set;
}

/**
 * CPU used by processes outside this process's tree (the harness, its load generator,
 * contenders and upstream) between begin() and end(): the noise of other work on the machine.
 * Per-process /proc/<pid>/stat sums, not /proc/stat: the kernel charges softirq time of loopback
 * traffic to the tasks but lists it apart in /proc/stat, so the two cannot be subtracted.
 * Kernel threads are left out (ksoftirqd runs partly for our own traffic). A process that ends
 * within the window is counted through its parent's cutime + cstime.
 */
export class OtherCpu {
  private before = new Map<number, ProcSample>();

  begin(): void {
    this.before = sampleAll();
  }

  /** Seconds of CPU used by everything else on the machine since begin(). */
  end(): number {
    const after = sampleAll();
    const ours = treeOf(process.pid, after);
    for (const pid of treeOf(process.pid, this.before)) ours.add(pid);
    const kernel = (pid: number, s: ProcSample) => pid === 2 || s.ppid === 2;
    let ticks = 0;
    for (const [pid, s] of after) {
      if (ours.has(pid) || kernel(pid, s)) continue;
      const b = this.before.get(pid);
      ticks += s.own - (b?.own ?? 0) + s.reaped - (b?.reaped ?? 0);
    }
    // gone during the window: their CPU before begin() is in a parent's cutime delta, take it out
    for (const [pid, b] of this.before) {
      if (!after.has(pid) && !ours.has(pid) && !kernel(pid, b)) ticks -= b.own + b.reaped;
    }
    return Math.max(0, ticks) / clockTicks();
  }
}

/** 1-minute load average. */
export function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}
