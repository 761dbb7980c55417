/** Consumers: unique ids, API keys (compared lower-cased), usernames and JWT subjects; scrypt parameters. */
import { isObject } from '../util.js';
import { arr, checkUniqueId, str, type CheckContext } from './context.js';

const API_KEY = /^sha256:[0-9a-fA-F]{64}$/;
const SCRYPT = /^scrypt:N=([0-9]+),r=([0-9]+),p=([0-9]+):([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)$/;

export function checkConsumers(k: CheckContext): void {
  const consumerIds = new Map<string, number>();
  const apiKeyOwner = new Map<string, string>();
  const usernames = new Map<string, string>();
  const subjects = new Map<string, string>();
  arr(k.c.consumers).forEach((consumer, i) => {
    if (!isObject(consumer)) return;
    const p = `/consumers/${i}`;
    checkUniqueId(k, consumerIds, 'consumers', i, consumer.id, 'consumer id');
    arr(consumer.apiKeys).forEach((key, j) => {
      if (!str(key) || !API_KEY.test(key)) return;
      const normalized = key.toLowerCase();
      const owner = apiKeyOwner.get(normalized);
      if (owner !== undefined) k.err(`${p}/apiKeys/${j}`, `the same API key is already listed at ${owner}`);
      else apiKeyOwner.set(normalized, `${p}/apiKeys/${j}`);
    });
    const basic = consumer.basicAuth;
    if (isObject(basic)) {
      if (str(basic.username)) {
        const owner = usernames.get(basic.username);
        if (owner !== undefined) k.err(`${p}/basicAuth/username`, `the same username is already used at ${owner}`);
        else usernames.set(basic.username, `${p}/basicAuth/username`);
      }
      if (str(basic.passwordHash)) {
        const m = SCRYPT.exec(basic.passwordHash);
        if (m) {
          const n = Number(m[1]);
          const hp = `${p}/basicAuth/passwordHash`;
          if (!(n > 1 && Number.isSafeInteger(n) && (n & (n - 1)) === 0)) k.err(hp, 'scrypt N must be a power of two greater than 1');
          else if (Number(m[2]) < 1 || Number(m[3]) < 1) k.err(hp, 'scrypt r and p must be at least 1');
        }
      }
    }
    if (str(consumer.jwtSubject)) {
      const owner = subjects.get(consumer.jwtSubject);
      if (owner !== undefined) k.err(`${p}/jwtSubject`, `the same jwtSubject is already used at ${owner}`);
      else subjects.set(consumer.jwtSubject, `${p}/jwtSubject`);
    }
  });
}
