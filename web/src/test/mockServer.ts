/**
 * A fetch stand-in for component tests: routes "METHOD /path" to handlers and
 * records every call with its parsed JSON body and headers.
 */
import { vi } from "vitest";

export interface Call {
  method: string;
  path: string;
  body: any;
  headers: Record<string, string>;
}

/** A handler returns [status, body], a promise of that (to hold a response back), or throws for a network error. */
export type Handler = (call: Call) => [number, unknown] | Promise<[number, unknown]>;

export function mockServer(routes: Record<string, Handler | [number, unknown]>) {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const method = (init.method ?? "GET").toUpperCase();
    const path = String(input);
    const call: Call = {
      method,
      path,
      body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
      headers: (init.headers ?? {}) as Record<string, string>,
    };
    calls.push(call);
    const route = routes[`${method} ${path}`];
    if (!route) throw new Error(`unexpected ${method} ${path}`);
    const [status, body] = typeof route === "function" ? await route(call) : route;
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  });
  vi.stubGlobal("fetch", fetchMock);
  return {
    calls,
    /** Calls to one endpoint, in order. */
    to: (method: string, path: string) => calls.filter((c) => c.method === method && c.path === path),
  };
}

/** A promise to resolve later, for holding a response back. */
export function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
