/**
 * The monthly preference quiz. Answers are kept as the options' own JSON
 * values (a boolean stays a boolean), and sending is possible only once
 * every question has an answer.
 */
import { useId, useRef, useState, type FormEvent } from "react";
import { ApiError, type Api, type QuizAnswers, type QuizQuestion, type QuizValue } from "../api";
import { quizAnswers } from "../events";

interface Props {
  api: Api;
  questions: QuizQuestion[];
  onAnswered: () => void;
}

export function Quiz({ api, questions, onAnswered }: Props) {
  const titleId = useId();
  const [chosen, setChosen] = useState<Record<string, QuizValue>>({});
  const [sending, setSending] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  // A failed send is resent with the same event_id as long as the answers are unchanged.
  const pending = useRef<{ key: string; body: QuizAnswers } | null>(null);

  const complete = questions.every((q) => q.id in chosen);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!complete || sending) return;
    const key = JSON.stringify(chosen);
    const body = pending.current?.key === key ? pending.current.body : quizAnswers(api.customerId, chosen);
    pending.current = { key, body };
    setSending(true);
    setFailure(null);
    try {
      await api.quiz(body);
      pending.current = null;
      onAnswered();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) setFailure("Couldn't send your answers, try again.");
    } finally {
      setSending(false);
    }
  };

  return (
    <form data-testid="quiz" className="card quiz" aria-labelledby={titleId} onSubmit={submit}>
      <h2 id={titleId}>Your monthly quiz</h2>
      <p className="muted">Tell us what you like and we'll tune your offers.</p>
      {questions.map((q) => (
        <fieldset key={q.id}>
          <legend>{q.text}</legend>
          {q.options.map((o) => (
            <label key={String(o.value)} className="option">
              <input
                type="radio"
                name={`${titleId}-${q.id}`}
                value={String(o.value)}
                checked={q.id in chosen && chosen[q.id] === o.value}
                onChange={() => setChosen((prev) => ({ ...prev, [q.id]: o.value }))}
              />
              {o.label}
            </label>
          ))}
        </fieldset>
      ))}
      <button type="submit" className="btn btn-primary" disabled={!complete || sending}>
        Send answers
      </button>
      <p role="alert" className="inline-error">
        {failure}
      </p>
    </form>
  );
}
