/**
 * `gateway start --watch`: a reload (source "watch") when the config file, or a file it names
 * that a reload re-reads (a jwt publicKeyFile), changes on disk.
 *
 * The directories are watched, not the files: editors save by writing a new file and renaming
 * it over the old one (vim, `sed -i`, most IDEs), and a Kubernetes ConfigMap volume updates by
 * pointing its `..data` symlink at a new directory; either way the path gets a new inode, and a
 * watch on the old inode would go quiet. Events are debounced (one save or one ConfigMap update
 * is several events) and then each file's content is compared with what the last reload read
 * (whoever asked for it): only a real change reloads, once per change; a touch, a swap file or
 * any other file in the directory does not. A slow poll backs the watch up where inotify sees
 * nothing (NFS, some FUSE mounts) or a watched directory was replaced.
 */
import { watch, readFileSync, realpathSync, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { log } from '../observability/log.js';

export interface WatchOptions {
  /** Quiet time after the last event before the files are compared. */
  debounceMs?: number;
  /** How often the files are compared without any event (0: never). */
  pollMs?: number;
}

/** What a file holds, as a short digest; a missing or unreadable file is its error code. */
function fingerprint(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('base64');
  } catch (err) {
    return `unreadable: ${(err as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

export class ConfigWatcher {
  /** Directory -> its watch. */
  readonly #watches = new Map<string, FSWatcher>();
  /** File -> what it held when a reload last read it. */
  readonly #seen = new Map<string, string>();
  #debounce: NodeJS.Timeout | null = null;
  #poll: NodeJS.Timeout | null = null;
  readonly #debounceMs: number;
  readonly #pollMs: number;

  /**
   * `files()`: the files to watch now (the config file first); `onChange()`: asks for the
   * reload, which calls noteRead() before it reads them.
   */
  constructor(readonly files: () => string[], readonly onChange: () => void, options: WatchOptions = {}) {
    this.#debounceMs = options.debounceMs ?? 200;
    this.#pollMs = options.pollMs ?? 5000;
  }

  start(): void {
    this.noteAccepted();
    this.#arm();
    if (this.#pollMs > 0) {
      this.#poll = setInterval(() => this.check(), this.#pollMs);
      this.#poll.unref();
    }
    log('info', 'watching the config for changes', { files: this.#paths(), directories: [...this.#watches.keys()], pollMs: this.#pollMs });
  }

  stop(): void {
    if (this.#poll !== null) clearInterval(this.#poll);
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    for (const w of this.#watches.values()) w.close();
    this.#watches.clear();
  }

  /** A reload is about to read the files: what they hold now is what the gateway has seen. */
  noteRead(): void {
    this.#seen.clear();
    for (const f of this.#paths()) this.#seen.set(f, fingerprint(f));
  }

  /** A config was accepted: the files it names that were not watched yet are as it read them. */
  noteAccepted(): void {
    for (const f of this.#paths()) if (!this.#seen.has(f)) this.#seen.set(f, fingerprint(f));
    this.#arm();
  }

  /** Compares the files with what the last reload read; asks for a reload when one differs. */
  check(): void {
    this.#arm();
    let changed: string | null = null;
    for (const f of this.#paths()) {
      const before = this.#seen.get(f);
      if (before !== undefined && before !== fingerprint(f)) {
        changed = f;
        break;
      }
    }
    if (changed !== null) {
      log('info', 'config change seen on disk', { file: changed });
      this.onChange();
    }
  }

  #paths(): string[] {
    return [...new Set(this.files().map((f) => resolve(f)))];
  }

  /**
   * Watches the directory of every file, and of what it links to when it is a symlink (a file
   * edited in place through a link changes there); again where a watch died.
   */
  #arm(): void {
    const dirs = new Set<string>();
    for (const f of this.#paths()) {
      dirs.add(dirname(f));
      try {
        dirs.add(dirname(realpathSync(f)));
      } catch {
        // missing now: its own directory is watched for it to come back
      }
    }
    for (const [dir, w] of this.#watches) {
      if (!dirs.has(dir)) {
        w.close();
        this.#watches.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (this.#watches.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.#soon());
        w.on('error', (err) => {
          log('warn', 'config directory watch failed; polling until it can be watched again', { directory: dir, error: err.message });
          w.close();
          this.#watches.delete(dir);
        });
        this.#watches.set(dir, w);
      } catch (err) {
        log('warn', 'cannot watch a config directory; polling it', { directory: dir, error: (err as Error).message });
      }
    }
  }

  #soon(): void {
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = null;
      this.check();
    }, this.#debounceMs);
    this.#debounce.unref();
  }
}
