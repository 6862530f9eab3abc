// The node's HTTP API, same origin, and its live event stream.

/** ApiError is an API answer other than 2xx: {"error", "code"}. */
export class ApiError extends Error {
  constructor(status, code, message, path) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    this.path = path;
  }
}

/**
 * get fetches a JSON route. With optional, a 404 (the route is not served
 * by this node yet, or the thing does not exist) answers null instead of
 * throwing, so that pages show an empty state. parse, when given, parses
 * the body's text instead of JSON.parse (proof.js's parseBundle keeps
 * integers beyond 2^53 exact).
 */
export async function get(path, { optional = false, signal, parse } = {}) {
  let res;
  try {
    res = await fetch(path, { headers: { Accept: 'application/json' }, signal, cache: 'no-store' });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', `cannot reach the node (${path}): ${err.message}`, path);
  }
  if (res.ok) return parse ? parse(await res.text()) : res.json();
  let body = {};
  try { body = await res.json(); } catch { /* not JSON */ }
  if (res.status === 404 && optional) return null;
  throw new ApiError(res.status, body.code, body.error || `${path}: HTTP ${res.status}`, path);
}

/** list accepts both a bare array and {key: [...]} answers. */
export function list(v, key) {
  if (Array.isArray(v)) return v;
  if (v && Array.isArray(v[key])) return v[key];
  return [];
}

/** getAll fetches several routes at once; see get. */
export function getAll(paths, opts) {
  return Promise.all(paths.map((p) => get(p, opts)));
}

/**
 * Live is the one EventSource on /v1/events shared by every page:
 * on(kind, fn) subscribes to "block" or "alert" events and returns the
 * unsubscribe function; onState(fn) follows the connection state
 * ("connecting", "live", "down").
 */
class Live {
  constructor() {
    this.handlers = new Map();
    this.stateHandlers = new Set();
    this.state = 'connecting';
    this.es = null;
    this.retry = null;
  }

  start() {
    if (this.es || typeof EventSource === 'undefined') return;
    const es = new EventSource('/v1/events');
    this.es = es;
    es.onopen = () => this.setState('live');
    es.onerror = () => {
      // The browser retries by itself while the stream is CONNECTING; a
      // CLOSED stream (an error answer) is reopened by us, slowly.
      this.setState(es.readyState === EventSource.CLOSED ? 'down' : 'connecting');
      if (es.readyState === EventSource.CLOSED) {
        this.es = null;
        clearTimeout(this.retry);
        this.retry = setTimeout(() => this.start(), 5000);
      }
    };
    for (const kind of ['block', 'alert']) {
      es.addEventListener(kind, (ev) => {
        let data;
        try { data = JSON.parse(ev.data); } catch { return; }
        for (const fn of this.handlers.get(kind) || []) {
          try { fn(data); } catch (err) { console.warn('live handler', kind, err); }
        }
      });
    }
  }

  setState(st) {
    if (st === this.state) return;
    this.state = st;
    for (const fn of this.stateHandlers) fn(st);
  }

  on(kind, fn) {
    if (!this.handlers.has(kind)) this.handlers.set(kind, new Set());
    this.handlers.get(kind).add(fn);
    return () => this.handlers.get(kind).delete(fn);
  }

  onState(fn) {
    this.stateHandlers.add(fn);
    fn(this.state);
    return () => this.stateHandlers.delete(fn);
  }
}

export const live = new Live();

/**
 * refresher calls fn now, then again after each event of the given kinds
 * (coalesced: at most once per minGap ms) and every pollMs while the event
 * stream is down (or always, with pollWhenLive), so data without its own
 * events still updates. It returns the stop function.
 */
export function refresher(fn, { events = [], filter = () => true, minGap = 1000, pollMs = 10000, pollWhenLive = false } = {}) {
  let stopped = false;
  let running = false;
  let again = false;
  let last = 0;
  let timer = null;
  const run = async () => {
    if (stopped) return;
    if (running) { again = true; return; }
    running = true;
    last = Date.now();
    try { await fn(); } catch (err) { if (!stopped && err.name !== 'AbortError') console.warn('refresh', err); }
    running = false;
    if (again && !stopped) { again = false; schedule(); }
  };
  const schedule = () => {
    if (timer || stopped) return;
    const wait = Math.max(0, minGap - (Date.now() - last));
    timer = setTimeout(() => { timer = null; run(); }, wait);
  };
  const offs = events.map((k) => live.on(k, (d) => { if (filter(d, k)) schedule(); }));
  const poll = setInterval(() => { if (pollWhenLive || live.state !== 'live') run(); }, pollMs);
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearInterval(poll);
    offs.forEach((off) => off());
  };
}

// Small caches shared by pages: industries by address (names), devices by
// key (owners). Entries expire so renamed or new things show up.
const cache = new Map();

export async function cached(key, ttlMs, load) {
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < ttlMs) return hit.value;
  const value = await load();
  cache.set(key, { at: Date.now(), value });
  return value;
}

/** industries returns the industries (state.IndustryInfo), cached briefly. */
export function industries() {
  return cached('industries', 3000, async () => list(await get('/v1/industries', { optional: true }), 'industries'));
}

/** industryNames maps addresses to names. */
export async function industryNames() {
  const m = new Map();
  for (const ind of await industries()) m.set(ind.address, ind.name);
  return m;
}

/** device returns /v1/devices/{key}, cached; null when unknown. */
export function device(key) {
  return cached('device:' + key, 60000, () => get(`/v1/devices/${key}`, { optional: true }));
}
