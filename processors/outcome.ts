// Every step's outcome is a value, counted where it is decided — never an exception used
// for control flow.
//   ok          the record was applied
//   drop        the record is ignored on purpose (e.g. a duplicate event_id); counted by reason
//   dlq         the record breaks a rule; it goes to the dead-letter topic with the reason

export type Outcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'drop'; readonly reason: string }
  | { readonly kind: 'dlq'; readonly reason: string; readonly code: string };

export const ok: Outcome = Object.freeze({ kind: 'ok' });
export const drop = (reason: string): Outcome => ({ kind: 'drop', reason });
export const dlq = (code: string, reason: string): Outcome => ({ kind: 'dlq', code, reason });

/** The metrics label of an outcome: `ok`, or kind and the reason's first part, e.g. `drop:duplicate`. */
export const outcomeLabel = (o: Outcome): string => (o.kind === 'ok' ? 'ok' : `${o.kind}:${o.reason.split(':')[0]}`);
