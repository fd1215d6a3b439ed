// Tiny DOM helpers: elements are built with textContent and attributes, never innerHTML, so
// titles and ids from the data cannot inject markup.
/* global document, Node */

/**
 * h('p', { class: 'x', 'aria-live': 'polite' }, 'text', child, [more]) → HTMLElement.
 * Attributes: `class`, `dataset` (object), `on<Event>` (listener), booleans (present/absent), strings.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A card: a section with a heading and a body that states (loading, empty, error) replace. */
export function card(title, { id, level = 2, actions } = {}) {
  const headingId = id ? `${id}-title` : undefined;
  const body = h('div', { class: 'card-body', 'aria-live': 'polite', 'aria-busy': 'true' }, loading());
  const section = h(
    'section',
    { class: 'card', id, 'aria-labelledby': headingId },
    h('div', { class: 'card-head' }, h(`h${level}`, { id: headingId }, title), actions),
    body,
  );
  return { section, body };
}

export const loading = (what = 'Loading…') => h('p', { class: 'state state-loading' }, what);

export const empty = (what) => h('p', { class: 'state state-empty' }, what);

/** An error state with the problem's detail and a retry button. */
export function failed(err, retry) {
  return h(
    'div',
    { class: 'state state-error', role: 'alert' },
    h('p', {}, h('strong', {}, err?.title ?? 'Something went wrong'), err?.detail ? ` — ${err.detail}` : ''),
    retry ? h('button', { type: 'button', class: 'link', onClick: retry }, 'Try again') : null,
  );
}

const generation = new WeakMap();

/**
 * Fills `body` with what `load()` renders; loading, error and retry handled here. When `fill`
 * is called again for the same body before the first load finished (a control changed), only
 * the latest load is shown.
 */
export async function fill(body, load) {
  const mine = (generation.get(body) ?? 0) + 1;
  generation.set(body, mine);
  body.setAttribute('aria-busy', 'true');
  replace(body, loading());
  let content;
  try {
    content = await load();
  } catch (err) {
    if (err?.name === 'AuthError') return; // the app went back to sign-in
    content = failed(err, () => void fill(body, load));
  }
  if (generation.get(body) !== mine) return;
  replace(body, content);
  body.setAttribute('aria-busy', 'false');
}

let uid = 0;
export const nextId = (prefix) => `${prefix}-${++uid}`;
