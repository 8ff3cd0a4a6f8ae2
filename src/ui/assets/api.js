// The dashboard's only way to the sandbox: the admin API (/_sandbox/…) and the MassPay API,
// with the API key the user typed, exactly as a test would call them.

const KEY = 'masspay-sandbox-key';
/** The MassPay API version the dashboard uses for its few MassPay calls (wallets, the PDF). */
export const MASSPAY = '/v0.1.4';

export const getKey = () => sessionStorage.getItem(KEY) ?? '';
export const setKey = (k) => (k ? sessionStorage.setItem(KEY, k) : sessionStorage.removeItem(KEY));

export class ApiError extends Error {
  constructor(status, body, text) {
    super(describeBody(status, body, text));
    this.status = status;
    this.body = body;
  }
}

/**
 * JSON with every number kept as the server wrote it where a double would change it (an ETH
 * amount has 18 decimals): the reviver sees the source text where the browser offers it.
 */
export function parse(text) {
  return JSON.parse(text, (_k, v, ctx) =>
    typeof v === 'number' && typeof ctx?.source === 'string' && String(v) !== ctx.source ? ctx.source : v,
  );
}

/** Calls the sandbox; resolves to the parsed answer (null when empty), throws ApiError. */
export async function call(method, path, body) {
  const init = { method, headers: { Authorization: `Bearer ${getKey()}` }, cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let data = null;
  if (text) {
    try {
      data = parse(text);
    } catch {
      data = text;
    }
  }
  if (!r.ok) throw new ApiError(r.status, data, text);
  return data;
}

export const get = (path) => call('GET', path);

/** MassPay's error shape → one line: `401 Unauthorized. Authentication failed … (details)`. */
function describeBody(status, body, text) {
  if (body && typeof body === 'object') {
    const details = body.error?.details ?? body.Errors ?? [];
    const parts = [`${body.code ?? status} ${body.title ?? ''}`.trim(), body.message];
    if (details.length) parts.push(`(${details.join('; ')})`);
    return parts.filter(Boolean).join(' ');
  }
  return `${status} ${text ?? ''}`.trim();
}

/** What to show for a failed call. */
export const describe = (e) => (e instanceof ApiError ? e.message : `The sandbox did not answer (${e?.message ?? e}).`);
