// Query strings for the URLs tests build. Every value is percent-encoded: unencoded, the `+`
// of a zone such as Etc/GMT+4 (or of an offset such as +02:00) reads as a space.
export type QueryValue = string | number | boolean | null | undefined;

/** `{ metric: 'plays', tz: 'Etc/GMT+4' }` → `metric=plays&tz=Etc%2FGMT%2B4`; null and undefined are left out. */
export function qs(params: Readonly<Record<string, QueryValue>>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.join('&');
}

/** `path?query` (just `path` when no value is left). */
export function withQuery(path: string, params: Readonly<Record<string, QueryValue>>): string {
  const q = qs(params);
  return q ? `${path}?${q}` : path;
}
