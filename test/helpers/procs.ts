/** /proc readers for tests: a process's children, its memory, the sockets it holds. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** PIDs whose parent is `pid`. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows "(comm)", which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  return out.sort((a, b) => a - b);
}

/**
 * The worker the primary forks after `victim` died, as soon as it exists (polled every 5 ms, up
 * to 2 s): a child of `primary` that is neither the victim nor one of `others`.
 */
export async function replacementWorker(primary: number, victim: number, others: readonly number[]): Promise<number | undefined> {
  for (let i = 0; i < 400; i++) {
    const found = childPids(primary).find((p) => p !== victim && !others.includes(p));
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 5));
  }
  return undefined;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) inodes.add(m[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  return inodes;
}

/** Established TCP connections whose local port is `port`, held by process `pid`. */
export function establishedOnPort(pid: number, port: number): number {
  const inodes = socketInodes(pid);
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const localPort = parseInt(cols[1].split(':')[1], 16);
      const state = cols[3];
      if (localPort === port && state === '01' && inodes.has(cols[9])) count++;
    }
  }
  return count;
}

/**
 * Whether signal `signo` is pending for process `pid` (sent, not yet delivered): the
 * process-wide pending mask, ShdPnd in /proc/<pid>/status. Two identical signals sent while the
 * first is still pending are merged by the kernel into one delivery.
 */
export function signalPending(pid: number, signo: number): boolean {
  const m = /^ShdPnd:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m !== null && (BigInt(`0x${m[1]}`) & (1n << BigInt(signo - 1))) !== 0n;
}

/** CPU time (user + system, clock ticks) process `pid` has used so far. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  return Number(fields[11]) + Number(fields[12]); // utime (14), stime (15)
}

/** Open descriptors of `pid` whose target (readlink of /proc/<pid>/fd/N) contains `part`. */
export function openFilesMatching(pid: number, part: string): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).includes(part)) n++;
    } catch {
      // fd closed meanwhile
    }
  }
  return n;
}
