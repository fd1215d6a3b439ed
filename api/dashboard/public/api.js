// The insights API from the browser: the bearer token from sessionStorage on every request,
// problem+json errors as ApiError, and a 401 as AuthError (the app then signs out).
/* global fetch, sessionStorage, atob, AbortController, setTimeout, clearTimeout, URLSearchParams */

const TOKEN_KEY = 'viewpulse.token';
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.title = problem?.title ?? (status === 404 ? 'Not found' : `Request failed (${status})`);
    this.detail = problem?.detail ?? '';
    this.code = problem?.code;
  }
}

export class AuthError extends ApiError {
  constructor(problem) {
    super(401, problem);
    this.name = 'AuthError';
  }
}

export const getToken = () => sessionStorage.getItem(TOKEN_KEY);

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Called with the reason whenever the API answers 401. */
export const onUnauthorized = (fn) => listeners.add(fn);

/** The claims of a JWT, unverified (the server verifies; the page only reads sub, role, exp). */
export function claims(token) {
  const parts = String(token).trim().split('.');
  if (parts.length !== 3) return undefined;
  try {
    const b64 = parts[1].replaceAll('-', '+').replaceAll('_', '/');
    const json = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const c = JSON.parse(json);
    return c && typeof c === 'object' ? c : undefined;
  } catch {
    return undefined;
  }
}

/** GET a JSON resource. `params` become the query string (undefined values are left out). */
export async function get(path, params = {}, { token = getToken(), timeoutMs = 15_000 } = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const url = q.size ? `${path}?${q}` : path;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let res;
  try {
    res = await fetch(url, {
      headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      signal: abort.signal,
    });
  } catch (err) {
    throw new ApiError(0, {
      title: 'The API did not answer',
      detail: err?.name === 'AbortError' ? `no answer within ${timeoutMs / 1000} s` : String(err?.message ?? err),
    });
  } finally {
    clearTimeout(timer);
  }
  let body;
  const text = await res.text();
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (res.status === 401) {
    const e = new AuthError(body);
    for (const fn of listeners) fn(e);
    throw e;
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

export const enc = encodeURIComponent;
