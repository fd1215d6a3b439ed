// The admin home: an admin picks a creator.
/* global location */
import { h, nextId } from './dom.js';
import { creatorHref } from './widgets.js';

// ---- admin home -----------------------------------------------------------------------------

export function adminHome() {
  const id = nextId('creator');
  const input = h('input', { id, name: 'creator', required: true, autocomplete: 'off', spellcheck: 'false' });
  const form = h(
    'form',
    {
      class: 'admin-form',
      onSubmit: (e) => {
        e.preventDefault();
        const v = input.value.trim();
        if (v) location.hash = creatorHref(v);
      },
    },
    h('label', { for: id }, 'Creator id', input),
    h('button', { type: 'submit' }, 'Open channel'),
  );
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'admin-title' },
    h('h1', { id: 'admin-title' }, 'Admin'),
    h('p', { class: 'subtitle' }, 'An admin token reads every creator. Which channel?'),
    form,
  );
}
