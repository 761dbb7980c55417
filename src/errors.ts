/**
 * The one registry of errors the gateway itself answers with. Every code has a fixed status
 * and a fixed, client-safe message; details go to the log, never to the client.
 * docs/errors.md lists the same table; test/unit/errors.test.ts keeps the two in step.
 *
 * Body shape (CONFIG.md): { "error": { "status", "code", "message", "requestId" } }
 */
export const GATEWAY_ERRORS = {
  bad_request: { status: 400, message: 'The request is malformed.' },
  bad_method: { status: 400, message: 'The request method is invalid.' },
  bad_path: { status: 400, message: 'The request path is invalid.' },
  bad_host: { status: 400, message: 'The Host header is missing or invalid.' },
  bad_header: { status: 400, message: 'A request header cannot be forwarded as sent.' },
  bad_body: { status: 400, message: 'The request body cannot be read as its Content-Type says.' },
  upgrade_refused: { status: 400, message: 'This route does not accept WebSocket upgrades.' },
  unauthorized: { status: 401, message: 'Missing or invalid credentials.' },
  forbidden: { status: 403, message: 'Access to this resource is not allowed.' },
  not_found: { status: 404, message: 'No route matches this request.' },
  method_not_allowed: { status: 405, message: 'The route does not accept this method.' },
  request_timeout: { status: 408, message: 'The request took too long to arrive.' },
  body_too_large: { status: 413, message: 'The request body is larger than allowed.' },
  headers_too_large: { status: 431, message: 'The request headers are larger than allowed.' },
  unsupported_websocket_version: { status: 426, message: 'Only WebSocket version 13 is supported.' },
  rate_limited: { status: 429, message: 'Too many requests.' },
  internal_error: { status: 500, message: 'The gateway failed to handle the request.' },
  plugin_error: { status: 500, message: 'A plugin failed to handle the request.' },
  not_implemented: { status: 501, message: 'The gateway does not support this method or transfer coding.' },
  upstream_unavailable: { status: 502, message: 'The upstream service could not be reached.' },
  upstream_reset: { status: 502, message: 'The upstream service closed the connection before answering.' },
  bad_upstream_response: { status: 502, message: 'The upstream service sent an invalid response.' },
  aggregate_backend_failed: { status: 502, message: 'A required backend of the aggregation failed.' },
  aggregate_backend_not_json: { status: 502, message: 'A required backend of the aggregation did not answer with JSON.' },
  aggregate_backend_too_large: { status: 502, message: 'A required backend of the aggregation answered with a body larger than allowed.' },
  no_healthy_upstream: { status: 503, message: 'No healthy upstream target is available.' },
  rate_limit_unavailable: { status: 503, message: 'Rate limiting is temporarily unavailable.' },
  circuit_open: { status: 503, message: 'The upstream service is failing; requests to it are paused.' },
  upstream_busy: { status: 503, message: 'The upstream service has too many requests in flight.' },
  shutting_down: { status: 503, message: 'The gateway is shutting down.' },
  upstream_timeout: { status: 504, message: 'The upstream service did not answer in time.' },
  aggregate_backend_timeout: { status: 504, message: 'A required backend of the aggregation did not answer in time.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content',
  301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified',
  307: 'Temporary Redirect', 308: 'Permanent Redirect',
  100: 'Continue', 101: 'Switching Protocols', 102: 'Processing', 103: 'Early Hints',
  203: 'Non-Authoritative Information', 205: 'Reset Content', 207: 'Multi-Status',
  300: 'Multiple Choices', 400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone',
  411: 'Length Required', 412: 'Precondition Failed', 413: 'Payload Too Large', 414: 'URI Too Long',
  415: 'Unsupported Media Type', 416: 'Range Not Satisfiable', 417: 'Expectation Failed', 418: "I'm a teapot",
  421: 'Misdirected Request', 422: 'Unprocessable Entity', 423: 'Locked', 425: 'Too Early', 426: 'Upgrade Required',
  428: 'Precondition Required', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

const statusLineCache = new Map<number, string>();

const statusLineBytesCache: Buffer[] = [];

/**
 * statusLine(status) as bytes, made once per status: uWS takes a Buffer as it is, where a string
 * costs it a UTF-8 conversion into a fresh allocation on every call.
 */
export function statusLineBytes(status: number): Buffer {
  let b = statusLineBytesCache[status];
  if (b === undefined) {
    b = Buffer.from(statusLine(status), 'latin1');
    statusLineBytesCache[status] = b;
  }
  return b;
}

/** "404 Not Found": built once per status code, then reused (uWS writeStatus wants the whole line). */
export function statusLine(status: number, reason?: string): string {
  if (reason) return `${status} ${reason}`;
  let line = statusLineCache.get(status);
  if (line === undefined) {
    line = `${status} ${STATUS_TEXT[status] ?? 'Unknown'}`;
    statusLineCache.set(status, line);
  }
  return line;
}

/** The JSON body of a gateway error. */
export function errorBody(code: GatewayErrorCode, requestId?: string, message?: string, traceId?: string): string {
  const def = GATEWAY_ERRORS[code];
  return JSON.stringify({
    error: { status: def.status, code, message: message ?? def.message, ...(requestId ? { requestId } : {}), ...(traceId ? { traceId } : {}) },
  });
}
