/**
 * Top level: loads the server's config (sign-in mode, clock), then shows
 * either the sign-in view or the customer's dashboard. No router: the
 * session decides the view.
 */
import { useCallback, useEffect, useMemo, useState } from "react";
import { createApi, describeError, getConfig, type AppConfig, type Session } from "./api";
import { setClock } from "./clock";
import { clearSession, loadSession, saveSession, takeFragmentToken } from "./session";
import { SignIn } from "./components/SignIn";
import { Dashboard } from "./components/Dashboard";
import { ErrorState } from "./components/ErrorState";

type ConfigState = { status: "loading" } | { status: "error"; message: string } | { status: "ready"; config: AppConfig };

/** `initialConfig`: the configuration main.tsx fetched before the first render, if it could. */
export function App({ initialConfig }: { initialConfig?: AppConfig }) {
  const [config, setConfig] = useState<ConfigState>(() =>
    initialConfig ? { status: "ready", config: initialConfig } : { status: "loading" },
  );
  // A token from the identity provider wins over a stored session.
  const [session, setSession] = useState<Session | null>(() => takeFragmentToken(initialConfig?.customer_claim) ?? loadSession());
  const [notice, setNotice] = useState<string | null>(null);

  const loadConfig = useCallback(() => {
    setConfig({ status: "loading" });
    getConfig().then(
      (config) => {
        setClock(config.as_of);
        setConfig({ status: "ready", config });
      },
      (err) => setConfig({ status: "error", message: describeError(err).message }),
    );
  }, []);
  useEffect(() => {
    if (!initialConfig) loadConfig();
  }, [initialConfig, loadConfig]);

  const signIn = useCallback((next: Session) => {
    saveSession(next);
    setNotice(null);
    setSession(next);
  }, []);

  const signOut = useCallback((message: string | null) => {
    clearSession();
    setNotice(message);
    setSession(null);
  }, []);

  const api = useMemo(
    () => session && createApi(session, () => signOut("Your session has ended. Please sign in again.")),
    [session, signOut],
  );

  return (
    <>
      <header className="topbar">
        <span className="brand">Smart Stack</span>
        {session && (
          <div className="who">
            <span data-testid="customer-id">{session.customer_id}</span>
            <button type="button" className="btn btn-quiet" onClick={() => signOut(null)}>
              Sign out
            </button>
          </div>
        )}
      </header>
      <main className="page">
        {config.status === "loading" && (
          <p role="status" className="state">
            Loading…
          </p>
        )}
        {config.status === "error" && <ErrorState message={config.message} onRetry={loadConfig} />}
        {config.status === "ready" &&
          (api ? (
            <Dashboard api={api} channel={config.config.channel} />
          ) : (
            <SignIn mode={config.config.sign_in} notice={notice} onSignedIn={signIn} />
          ))}
      </main>
    </>
  );
}
