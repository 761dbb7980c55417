/**
 * Consumers (CONFIG.md): compiled once per config version into lookup tables for the auth
 * plugins. Null-prototype maps: keys come from request input (keys, usernames, JWT subjects).
 */
import type { ConsumerConfig } from '../config/schema.js';

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

  constructor(consumers: readonly ConsumerConfig[]) {
    for (const c of consumers) {
      const consumer: Consumer = Object.freeze({ id: c.id, groups: Object.freeze([...(c.groups ?? [])]) });
      this.byId.set(c.id, consumer);
      for (const key of c.apiKeys ?? []) this.byApiKeyHash.set(key.slice('sha256:'.length).toLowerCase(), consumer);
      if (c.basicAuth) this.byUsername.set(c.basicAuth.username, { consumer, passwordHash: c.basicAuth.passwordHash });
      if (c.jwtSubject !== undefined) this.byJwtSubject.set(c.jwtSubject, consumer);
    }
  }
}
