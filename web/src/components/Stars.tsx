/** A 1–5 star rating of an offer's explanation, as five labelled toggle buttons. */
import { useId } from "react";

const STARS = [1, 2, 3, 4, 5];

interface Props {
  value: number | null;
  disabled: boolean;
  onRate: (stars: number) => void;
}

export function Stars({ value, disabled, onRate }: Props) {
  const labelId = useId();
  return (
    <div className="stars" role="group" aria-labelledby={labelId}>
      <span id={labelId} className="stars-label">
        Rate this explanation
      </span>
      {STARS.map((n) => (
        <button
          key={n}
          type="button"
          className={value !== null && n <= value ? "star star-on" : "star"}
          aria-label={n === 1 ? "1 star" : `${n} stars`}
          aria-pressed={value === n}
          disabled={disabled}
          onClick={() => onRate(n)}
        >
          <span aria-hidden="true">★</span>
        </button>
      ))}
    </div>
  );
}
