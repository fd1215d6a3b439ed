// Durations as people read them: "850 ms", "12 s", "28 min", "3 h 5 min", "2 d 4 h" — rounded
// to the last unit shown, so a freshness of 1,668 s reads "28 min", never "1,668 s".
import { DAY as D, HOUR as H, MINUTE as MIN, SECOND as S } from './time.js';

/** `big` and `small` units of `ms`, rounded to whole `small`s (carrying into `big`). */
function two(ms: number, big: number, bigName: string, small: number, smallName: string): string {
  const smalls = Math.round(ms / small);
  const perBig = big / small;
  const b = Math.floor(smalls / perBig);
  const s = smalls - b * perBig;
  return s === 0 ? `${b} ${bigName}` : `${b} ${bigName} ${s} ${smallName}`;
}

export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 0) return `-${humanDuration(-ms)}`;
  if (ms < S) return `${Math.round(ms)} ms`;
  if (ms < MIN - S / 2) return `${Math.round(ms / S)} s`;
  if (ms < H - MIN / 2) return `${Math.round(ms / MIN)} min`;
  if (ms < D - H / 2) return two(ms, H, 'h', MIN, 'min');
  return two(ms, D, 'd', H, 'h');
}
