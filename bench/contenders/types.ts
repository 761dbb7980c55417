import type { ContenderName } from '../scenarios.js';

/** A contender that is up and answering on `port`. */
export interface RunningContender {
  name: ContenderName;
  /** How the report names it, e.g. "gateway (2 workers)". */
  label: string;
  port: number;
  /** Root of the process tree whose CPU is charged to this contender (null: direct, nothing in between). */
  pid: number | null;
  stop(): Promise<void>;
}
