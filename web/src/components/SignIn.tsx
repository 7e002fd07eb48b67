/**
 * Sign-in view. Locally (demo) the customer picks a sample customer and gets
 * a token from /auth/token; with an external identity provider the bank
 * signs the customer in and sends them back with `#token=…`.
 */
import { useCallback, useEffect, useState } from "react";
import { describeError, issueToken, listCustomers, type SampleCustomer, type Session, type SignInMode } from "../api";
import { ErrorState } from "./ErrorState";

interface Props {
  mode: SignInMode;
  notice: string | null;
  onSignedIn: (session: Session) => void;
}

export function SignIn({ mode, notice, onSignedIn }: Props) {
  return (
    <section className="signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in</h1>
      <p role="status" className="notice">
        {notice}
      </p>
      {mode === "external" ? (
        <p className="card">Sign in through your bank to see your offers.</p>
      ) : (
        <CustomerPicker onSignedIn={onSignedIn} />
      )}
    </section>
  );
}

type ListState =
  | { status: "loading" }
  | { status: "error"; message: string }
  | { status: "ready"; customers: SampleCustomer[] };

function CustomerPicker({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [list, setList] = useState<ListState>({ status: "loading" });
  const [busy, setBusy] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  const load = useCallback(() => {
    setList({ status: "loading" });
    listCustomers().then(
      (customers) => setList({ status: "ready", customers }),
      (err) => setList({ status: "error", message: describeError(err).message }),
    );
  }, []);
  useEffect(load, [load]);

  const choose = async (customerId: string) => {
    setBusy(customerId);
    setFailure(null);
    try {
      const answer = await issueToken(customerId);
      onSignedIn({ token: answer.token, customer_id: answer.customer_id });
    } catch (err) {
      setFailure(describeError(err).message);
      setBusy(null);
    }
  };

  if (list.status === "loading") return <p role="status" className="state">Loading sample customers…</p>;
  if (list.status === "error") return <ErrorState message={list.message} onRetry={load} />;
  return (
    <>
      <p>Choose a sample customer to see their offers.</p>
      <ul className="customers">
        {list.customers.map((c) => (
          <li key={c.customer_id}>
            <button
              type="button"
              className="customer"
              data-testid="sign-in-customer"
              data-customer-id={c.customer_id}
              disabled={busy !== null}
              onClick={() => choose(c.customer_id)}
            >
              <span className="customer-id">{c.customer_id}</span>
              <span className="chip">{c.card_product}</span>
              {c.description && <span className="muted">{c.description}</span>}
            </button>
          </li>
        ))}
      </ul>
      <p role="alert" className="inline-error">
        {failure}
      </p>
    </>
  );
}
