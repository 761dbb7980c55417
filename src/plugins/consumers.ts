/**
 * Consumers (CONFIG.md): compiled once per config version into lookup tables for the auth
 * plugins. Null-prototype maps: keys come from request input (keys, usernames, JWT subjects).
 */

/** What the directory reads of a loaded consumer (the config's ConsumerConfig has this shape). */
export interface ConsumerInput {
  readonly id: string;
  readonly groups: readonly string[];
  /** "sha256:<hex>", lower-cased by the loader. */
  readonly apiKeys: readonly string[];
  readonly basicAuth?: { readonly username: string; readonly passwordHash: string };
  readonly jwtSubject?: string;
}

export interface Consumer {
  readonly id: string;
  readonly groups: readonly string[];
}

export interface BasicAuthEntry {
  readonly consumer: Consumer;
  /** scrypt:N=..,r=..,p=..:<salt>:<hash> as in the config. */
  readonly passwordHash: string;
}

export class ConsumerDirectory {
  readonly byId = new Map<string, Consumer>();
  /** sha256 hex of an API key -> consumer. */
  readonly byApiKeyHash = new Map<string, Consumer>();
  readonly byUsername = new Map<string, BasicAuthEntry>();
  readonly byJwtSubject = new Map<string, Consumer>();

  constructor(consumers: readonly ConsumerInput[]) {
    for (const c of consumers) {
      const consumer: Consumer = Object.freeze({ id: c.id, groups: Object.freeze([...c.groups]) });
      this.byId.set(c.id, consumer);
      for (const key of c.apiKeys) this.byApiKeyHash.set(key.slice('sha256:'.length), consumer);
      if (c.basicAuth) this.byUsername.set(c.basicAuth.username, { consumer, passwordHash: c.basicAuth.passwordHash });
      if (c.jwtSubject !== undefined) this.byJwtSubject.set(c.jwtSubject, consumer);
    }
  }
}
