// Talking to the server: the token (this browser tab only), JSON calls, and a job's event stream.
// The token travels in the Authorization header of every request, never in a URL.

const KEY = 'bulksync.token';

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function headers(accept) {
  const found = token.get();
  return found ? {Accept: accept, Authorization: `Bearer ${found}`} : {Accept: accept};
}

async function refusal(response) {
  const body = await response.json().catch(() => null);
  const detail = body && typeof body.detail === 'string' ? body.detail : response.statusText;
  return new ApiError(response.status, detail || `HTTP ${response.status}`);
}

/** A JSON call; throws ApiError with the server's one-line detail on a 4xx/5xx. */
export async function call(path, {method = 'GET', signal} = {}) {
  const response = await fetch(path, {method, signal, cache: 'no-store', headers: headers('application/json')});
  if (!response.ok) throw await refusal(response);
  return response.json();
}

/**
 * Follow /api/v1/jobs/{id}/events, calling onEvent(name, data) per server-sent event.
 * EventSource cannot send an Authorization header, and a token in its URL would land in access
 * logs and browser history; so the stream is read with fetch. Resolves true after the `end`
 * event, false when the stream closed before it (the caller reconnects).
 */
export async function follow(jobId, onEvent, signal) {
  const response = await fetch(`/api/v1/jobs/${encodeURIComponent(jobId)}/events`, {
    signal, cache: 'no-store', headers: headers('text/event-stream'),
  });
  if (!response.ok) throw await refusal(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  let text = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return false;
    pending += value;
    const upto = pending.endsWith('\r') ? pending.length - 1 : pending.length; // \r\n may be split
    text += pending.slice(0, upto).replace(/\r\n?/g, '\n');
    pending = pending.slice(upto);
    let cut;
    while ((cut = text.indexOf('\n\n')) >= 0) {
      const event = parseFrame(text.slice(0, cut));
      text = text.slice(cut + 2);
      if (!event) continue;
      onEvent(event.name, event.data);
      if (event.name === 'end') {
        await reader.cancel().catch(() => {});
        return true;
      }
    }
  }
}

function parseFrame(frame) {
  let name = 'message';
  const data = [];
  for (const line of frame.split('\n')) {
    if (line.startsWith(':') || !line) continue; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return null;
  try {
    return {name, data: JSON.parse(data.join('\n'))};
  } catch {
    return null;
  }
}
