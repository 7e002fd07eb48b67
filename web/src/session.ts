/**
 * Where the signed-in session lives: sessionStorage, so closing the tab signs
 * the customer out. An external identity provider hands a token over in the
 * URL fragment (`#token=…`); it is taken once and the fragment cleared so the
 * token does not linger in the address bar or history.
 */
import type { Session } from "./api";

const KEY = "smartstack.session";

export function loadSession(): Session | null {
  try {
    const parsed: unknown = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
    if (parsed && typeof parsed === "object" && "token" in parsed && "customer_id" in parsed) {
      const { token, customer_id } = parsed;
      if (typeof token === "string" && typeof customer_id === "string") return { token, customer_id };
    }
  } catch {
    // A damaged entry is as good as none.
  }
  return null;
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify({ token: session.token, customer_id: session.customer_id }));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}

/** The JWT's customer claim, read without verification: the server verifies every call. */
function jwtCustomer(token: string, claim: string): string | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const payload: unknown = JSON.parse(new TextDecoder().decode(bytes));
    const value: unknown = payload && typeof payload === "object" ? (payload as Record<string, unknown>)[claim] : null;
    if (typeof value === "string") return value;
  } catch {
    // Not a JWT we can read.
  }
  return null;
}

/**
 * Take a `#token=…` handed over by the identity provider, store it as the
 * session and clear the fragment. Returns the stored session, if any.
 */
export function takeFragmentToken(claim = "sub"): Session | null {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  const token = params.get("token");
  if (token === null) return null;
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  const customer_id = jwtCustomer(token, claim);
  if (customer_id === null) return null;
  const session = { token, customer_id };
  saveSession(session);
  return session;
}
