/** The customer's progress: weekly streak, earned badges, and how close the next badges are. */
import { useId } from "react";
import type { Engagement as EngagementData } from "../api";

export function Engagement({ data }: { data: EngagementData }) {
  const titleId = useId();
  const { streak, badges, next_badges } = data;
  return (
    <section data-testid="engagement" className="card engagement" aria-labelledby={titleId}>
      <h2 id={titleId}>Your progress</h2>
      <p data-testid="streak" className="streak">
        {streak.current_weeks > 0 ? (
          <span className="streak-count">{streak.current_weeks}-week streak</span>
        ) : (
          <span className="streak-count">No streak yet</span>
        )}
        {streak.longest_weeks > 0 ? (
          <span className="muted"> · longest {streak.longest_weeks} {streak.longest_weeks === 1 ? "week" : "weeks"}</span>
        ) : (
          <span className="muted"> · redeem an offer or rate an explanation this week to start one</span>
        )}
      </p>
      <h3>Badges</h3>
      {badges.length > 0 ? (
        <ul className="chips badges">
          {badges.map((b) => (
            <li key={b.id} className="chip chip-badge" data-testid="badge" data-badge-id={b.id}>
              {b.title}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No badges yet: redeem an offer to earn your first.</p>
      )}
      {next_badges.length > 0 && (
        <>
          <h3>Next badges</h3>
          <ul className="next-badges">
            {next_badges.map((b) => (
              <NextBadge key={b.id} {...b} />
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function NextBadge({ id, title, description, value, target }: EngagementData["next_badges"][number]) {
  const progressId = useId();
  return (
    <li data-testid="next-badge" data-badge-id={id}>
      <label htmlFor={progressId} className="next-title">
        {title}
      </label>
      <span className="muted">{description}</span>
      <span className="next-progress">
        <progress id={progressId} value={value} max={target} />
        <span>
          {value}/{target}
        </span>
      </span>
    </li>
  );
}
