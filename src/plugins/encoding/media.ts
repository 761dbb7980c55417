/** Media-type tests of the `encoding` plugin (Content-Type and Accept values, RFC 9110 §12.5.1). */

const MSGPACK_TYPES = ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'];

/** The type/subtype of a Content-Type value, lower-case, without parameters. */
function essence(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

export function isMsgpack(contentType: string | undefined): boolean {
  return contentType !== undefined && MSGPACK_TYPES.includes(essence(contentType));
}

/** application/json or any +json type. */
export function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const t = essence(contentType);
  return t === 'application/json' || (t.startsWith('application/') && t.endsWith('+json'));
}

/**
 * The client prefers MessagePack: it names a MessagePack type with q > 0 and no JSON range it
 * lists has a higher q ("application/msgpack, application/json;q=0.5" does; "*\/*" alone does
 * not: MessagePack must be asked for by name).
 */
export function prefersMsgpack(accept: string | undefined): boolean {
  if (accept === undefined || accept.indexOf('msgpack') === -1) return false;
  let msgpackQ = 0;
  let jsonQ = 0;
  for (const range of accept.split(',')) {
    const parts = range.split(';');
    const type = parts[0].trim().toLowerCase();
    let q = 1;
    for (let i = 1; i < parts.length; i++) {
      const p = parts[i].trim().toLowerCase();
      if (p.startsWith('q=')) {
        const v = Number(p.slice(2));
        q = Number.isFinite(v) ? Math.min(Math.max(v, 0), 1) : 0;
      }
    }
    if (MSGPACK_TYPES.includes(type)) msgpackQ = Math.max(msgpackQ, q);
    else if (type === 'application/json' || type === 'application/*' || type === '*/*') jsonQ = Math.max(jsonQ, q);
  }
  return msgpackQ > 0 && msgpackQ >= jsonQ;
}
