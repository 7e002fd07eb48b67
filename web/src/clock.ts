/**
 * The app's clock. The demo data set is frozen in the past, so the server can
 * pin a start time (`as_of`); from there the clock advances in real time.
 * Every timestamp the app sends comes from here.
 */

let offsetMs = 0;

/** Start the clock at `asOf` (ISO 8601) as of `loadedAt`; null means the real time. */
export function setClock(asOf: string | null, loadedAt: number = Date.now()): void {
  const start = asOf === null ? NaN : Date.parse(asOf);
  offsetMs = Number.isNaN(start) ? 0 : start - loadedAt;
}

function now(): Date {
  return new Date(Date.now() + offsetMs);
}

export function nowIso(): string {
  return now().toISOString();
}

export function timeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
