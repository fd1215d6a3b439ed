// The dashboard's shell: sign-in with a pasted token (sessionStorage) or a sign-in link
// (`/#token=<jwt>`: in the fragment, which never reaches a server or its logs; it is taken
// out of the address bar and the history at once), sign-out, and a hash router —
// #/creators/<id> (a creator's channel) and #/videos/<id> (one video). A 401 from any request
// clears the token and shows the sign-in form again.
/* global document, window, location, history */
import { claims, clearToken, get, getToken, onUnauthorized, setToken, enc } from './api.js';
import { h, replace } from './dom.js';
import { adminHome } from './admin-page.js';
import { creatorView } from './creator-page.js';
import { videoView } from './video-page.js';

const $ = (id) => document.getElementById(id);
const view = $('view');

function session() {
  const token = getToken();
  const c = token ? claims(token) : undefined;
  return token && c
    ? { token, sub: String(c.sub ?? ''), role: c.role === 'admin' ? 'admin' : 'creator', exp: c.exp }
    : undefined;
}

function showSignIn(message = '') {
  $('account').hidden = true;
  $('sign-in').hidden = false;
  replace(view);
  $('sign-in-error').textContent = message;
  document.title = 'Sign in — Viewpulse';
  $('token').focus();
}

function signOut(message = '') {
  clearToken();
  showSignIn(message);
}

onUnauthorized((err) => {
  signOut(`Signed out: ${err.detail || 'the token was refused'} (401). Paste a valid token.`);
});

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = $('token')
    .value.trim()
    .replace(/^Bearer\s+/i, '');
  const c = claims(token);
  const error = $('sign-in-error');
  if (!c) {
    error.textContent = 'That is not a token: expected three dot-separated parts (a JWT).';
    return;
  }
  if (typeof c.exp === 'number' && c.exp * 1000 < Date.now()) {
    error.textContent = 'That token has expired; mint a new one.';
    return;
  }
  const button = event.submitter ?? $('sign-in-form').querySelector('button');
  button.disabled = true;
  error.textContent = '';
  try {
    // Check the token against the API before keeping it.
    await get(`/v1/creators/${enc(String(c.sub))}/health`, {}, { token }).catch((err) => {
      // An admin's sub need not be a creator: a 404 still means the token was accepted.
      if (!(c.role === 'admin' && err.status === 404)) throw err;
    });
    setToken(token);
    $('token').value = '';
    if (!location.hash || location.hash === '#/' || location.hash === '#') {
      location.hash = c.role === 'admin' ? '#/' : `#/creators/${enc(String(c.sub))}`;
    }
    route();
  } catch (err) {
    error.textContent =
      err.name === 'AuthError'
        ? `The API refused this token: ${err.detail || 'invalid or expired'}.`
        : `Could not sign in: ${err.title}${err.detail ? ` — ${err.detail}` : ''}`;
  } finally {
    button.disabled = false;
  }
});

$('sign-out').addEventListener('click', () => {
  clearToken();
  if (location.hash && location.hash !== '#/') location.hash = '#/'; // route() then shows the form
  showSignIn('You are signed out.');
});

function route() {
  const s = session();
  if (!s) return showSignIn($('sign-in-error').textContent); // keep why we are here
  $('sign-in').hidden = true;
  $('account').hidden = false;
  replace($('whoami'), s.role === 'admin' ? 'Admin' : 'Creator ', s.role === 'admin' ? '' : h('code', {}, s.sub));

  const path = location.hash.replace(/^#/, '') || '/';
  const m = /^\/(creators|videos)\/([^/?]+)/.exec(path);
  let content;
  document.title = m
    ? `${m[1] === 'creators' ? 'Channel' : 'Video'} ${decodeURIComponent(m[2])} — Viewpulse`
    : 'Viewpulse';
  if (m && m[1] === 'creators') content = creatorView(decodeURIComponent(m[2]), s);
  else if (m && m[1] === 'videos') content = videoView(decodeURIComponent(m[2]), s);
  else if (s.role === 'admin') content = adminHome();
  else {
    location.replace(`#/creators/${enc(s.sub)}`);
    return;
  }
  replace(view, content);
  $('main').focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

/** A sign-in link: keep its token, and replace the fragment with the page it signs in to. */
function adoptLinkToken() {
  const m = /^#token=([\w-]+\.[\w-]+\.[\w-]+)$/.exec(location.hash);
  if (!m) return;
  const c = claims(m[1]);
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  if (!c || (typeof c.exp === 'number' && c.exp * 1000 < Date.now())) {
    $('sign-in-error').textContent = 'The sign-in link holds no valid token (expired?); paste a token.';
    return;
  }
  setToken(m[1]);
  if (c.role !== 'admin') history.replaceState(null, '', `#/creators/${enc(String(c.sub))}`);
}

// A link followed while the page is open changes only the fragment: no reload, a hashchange.
window.addEventListener('hashchange', () => {
  adoptLinkToken();
  route();
});
adoptLinkToken();
route();
