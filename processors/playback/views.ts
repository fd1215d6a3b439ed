// The repeat cap: a viewer's views of one video count at most once per `repeatCapMs` (a rule
// parameter, 30 minutes by default), so a refresh loop does not inflate counts
// (docs/semantics.md, "Views").

export interface Candidate {
  sessionId: string;
  t: number;
}

/**
 * Given every qualifying session of one (viewer, video) and the time of the last view
 * counted before them (if older ones were forgotten), returns the counted views in time
 * order. A candidate counts when no counted view lies in the `repeatCapMs` before it.
 */
export function countedViews(
  candidates: readonly Candidate[],
  lastCountedBefore: number | null,
  repeatCapMs: number,
): Candidate[] {
  const sorted = [...candidates].sort(
    (a, b) => a.t - b.t || (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0),
  );
  const counted: Candidate[] = [];
  let last = lastCountedBefore;
  for (const c of sorted) {
    if (last === null || c.t - last >= repeatCapMs) {
      counted.push(c);
      last = c.t;
    }
  }
  return counted;
}
