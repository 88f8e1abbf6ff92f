// The node's HTTP API as the desk uses it: same origin, the session in the HttpOnly cookie that
// POST /v1/sessions sets (the page never sees or stores the token).

export class api_error extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// JSON in and out; a non-2xx answer throws api_error with the node's message.
export async function call(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!r.ok) throw new api_error(r.status, json?.error?.message ?? `${r.status} ${r.statusText}`);
  return json;
}

// A binary answer (a retrieved series); errors as call().
export async function fetch_bytes(path) {
  const r = await fetch(path, { credentials: 'same-origin' });
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try { message = (await r.json()).error.message; } catch { /* not JSON */ }
    throw new api_error(r.status, message);
  }
  return r.arrayBuffer();
}

export function to_base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

// Follows a query to its end: Server-Sent Events, or polling when the stream cannot be had
// (too many streams open, a proxy that buffers). on_state gets every state; resolves with the last.
export function follow_query(id, on_state) {
  return new Promise((resolve) => {
    let finished = false;
    const finish = (state) => { finished = true; on_state(state, true); resolve(state); };
    const poll = async () => {
      while (!finished) {
        try {
          const state = await call('GET', `/v1/queries/${id}`);
          if (state.done) return finish(state);
          on_state(state, false);
        } catch (e) {
          finished = true;
          on_state({ error: e.message }, true);
          return resolve(null);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    const events = new EventSource(`/v1/queries/${id}/events`);
    events.addEventListener('progress', (e) => on_state(JSON.parse(e.data), false));
    events.addEventListener('done', (e) => { events.close(); finish(JSON.parse(e.data)); });
    events.addEventListener('gone', () => { events.close(); poll(); });
    events.onerror = () => { if (!finished) { events.close(); poll(); } };
  });
}
