"""The monitoring dashboard on a built home: how long ``evidently ui`` takes to answer and the
project page to draw, and a screenshot of each tab.

With ``--traffic N``, first serves N rankings through the home's real ``RankingApp`` (as the
service does: the ranking log is written) and lands synthetic feedback on them through
``Interactions`` (a seeded share of the served lists clicked, a share of those clicks
redeemed), then rebuilds the outcomes mart (``smartstack dbt build --select
+monitoring_outcomes_daily``). Then runs the monitoring commands on the home (``smartstack
monitor outcomes``, ``drift --no-fail-on-alarm`` (``--drift-runs`` times: each run is a point
of the Drift plots) and ``freshness``, as the daily DAG's monitoring tasks do: each pushes a
snapshot to ``<monitoring_dir>/workspace``), starts ``evidently ui`` over that workspace, as
``smartstack up`` does, and opens the project page in headless Chromium (Debian's, driven by
Playwright), waiting until every panel has drawn its plot.

    .venv/bin/python bench/bench_dashboard.py --home /tmp/dash-home --traffic 1500 \\
        --drift-runs 2 --screenshots docs/img

Prints the timings as a Markdown table; with ``--screenshots``, saves the project page as
``monitoring-dashboard.png`` and each tab (Drift, Freshness, Outcomes) as
``monitoring-dashboard-<tab>.png``. The feedback is synthetic: the outcome figures show that
the pipes carry it, not how good the ranker is.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

BIN = Path(sys.executable).parent
# Evidently 0.7's UI draws every tab's panels on the project page, one after the other (no tab
# controls), so each tab's screenshot is the part of the page holding its panels, by title.
TABS = {
    "Drift": ("Drifted features (share) per run", "Drift score per feature"),
    "Freshness": ("Stale feature views", "Champion age", "Feature view age"),
    "Outcomes": ("Click rate per model version", "Redemption rate per model version",
                 "Offers shown per model version"),
}  # fmt: skip
CHART = ".MuiChartsAxis-root"  # a drawn plot (MUI X charts); a note or a spinner has none


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def smartstack(home: Path, *args: str, ok: tuple[int, ...] = (0,)) -> float:
    """Run the CLI on the home; its seconds."""
    env = {**os.environ, "SMARTSTACK_HOME": str(home)}
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "smartstack"), *args], env=env, check=False,
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - started
    command = " ".join(args)
    if done.returncode not in ok:
        raise SystemExit(f"smartstack {command} exited {done.returncode}: "
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")  # fmt: skip
    last = done.stdout.strip().splitlines()[-1:] or [""]
    print(f"smartstack {command}: exit {done.returncode} in {seconds:.1f} s; {last[0][:200]}")
    return seconds


def serve(home: Path, count: int, seed: int, click: float, redeem: float) -> dict[str, float]:
    """``count`` rankings through the home's ``RankingApp`` (customers drawn with a seeded RNG,
    asked as of the data set's newest transaction, as the tests do), then synthetic feedback
    landed through ``Interactions``: a ``click`` share of the lists gets a click on one of its
    offers (the top ones likelier), a ``redeem`` share of those a redemption too."""
    os.environ["SMARTSTACK_HOME"] = str(home)
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from smartstack.events.contracts import FeedbackEvent
    from smartstack.events.interactions import Interactions
    from smartstack.featurestore import store
    from smartstack.serving.app import RankingApp
    from smartstack.serving.schemas import RankRequest
    from smartstack.settings import Settings

    settings = Settings()
    rng = random.Random(seed)
    customers = pq.read_table(settings.raw_dir / "customers", columns=["customer_id"])
    ids = customers["customer_id"].to_pylist()
    at = pc.max(pq.read_table(settings.raw_dir / "transactions")["event_timestamp"]).as_py()
    started = time.perf_counter()
    app = RankingApp(settings)
    try:
        responses = [
            app.rank(RankRequest.model_validate(
                {"customer_id": rng.choice(ids), "k": 4,
                 "context": {"channel": "app", "timestamp": at}}, strict=False))
            for _ in range(count)
        ]  # fmt: skip
    finally:
        app.close()  # flushes the ranking log
    served = time.perf_counter() - started
    events = []
    now = datetime.now(UTC)
    for response in responses:
        if not response.offers or rng.random() >= click:
            continue
        weights = [1 / (n + 1) for n in range(len(response.offers))]
        position = rng.choices(range(len(response.offers)), weights)[0]
        kinds = ["click", "redeem"] if rng.random() < redeem else ["click"]
        events += [
            FeedbackEvent(event_id=uuid.uuid4().hex, kind=kind,
                          customer_id=response.customer_id,
                          offer_id=response.offers[position].offer_id,
                          occurred_at=now + timedelta(minutes=1 + n),
                          request_id=response.request_id, channel="app",
                          position=position + 1)
            for n, kind in enumerate(kinds)
        ]  # fmt: skip
    started = time.perf_counter()
    interactions = Interactions.from_settings(settings, store.get_store(settings))
    try:
        interactions.land(events, [])
    finally:
        interactions.close()
    landed = time.perf_counter() - started
    clicks = sum(e.kind == "click" for e in events)
    print(f"served {count} rankings in {served:.1f} s; landed SYNTHETIC feedback (seed {seed}): "
          f"{clicks} clicks, {len(events) - clicks} redemptions in {landed:.1f} s")  # fmt: skip
    return {"serve": served, "land": landed}


def card(page, title: str):  # noqa: ANN001, ANN201 - Playwright page and locator
    """The panel titled ``title``, once its plot is drawn."""
    found = page.get_by_text(title, exact=False).first
    panel = found.locator("xpath=ancestor::div[contains(@class, 'MuiCard-root')][1]")
    panel.locator(CHART).first.wait_for()
    return panel


def shoot(page, directory: Path) -> None:  # noqa: ANN001 - a Playwright page
    """The whole page, then each tab's panels, once every panel's plot is drawn. In a tab's
    picture the pointer rests on the newest point of its first plot, so its tooltip shows the
    value (a plot of one value, or of equal values, has an axis labelled 0 only)."""
    panels = {tab: [card(page, title) for title in titles] for tab, titles in TABS.items()}
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # the plots animate in
    page.screenshot(path=directory / "monitoring-dashboard.png", full_page=True)
    # A hover brings a hint ("You can click on the data point…") over the plots: hidden.
    page.add_style_tag(content=".MuiSnackbar-root { display: none !important; }")
    width = page.viewport_size["width"]
    for tab, cards in panels.items():
        cards[0].locator(".MuiMarkElement-root").last.hover(force=True)
        page.get_by_text("Report tags:").filter(visible=True).first.wait_for()  # the tooltip
        page.wait_for_timeout(300)
        scrolled = page.evaluate("window.scrollY")  # boxes are in the viewport's coordinates
        boxes = [c.bounding_box() for c in cards]
        top = min(b["y"] for b in boxes) + scrolled - 12
        bottom = max(b["y"] + b["height"] for b in boxes) + scrolled + 12
        clip = {"x": 0, "y": top, "width": width, "height": bottom - top}
        page.screenshot(path=directory / f"monitoring-dashboard-{tab.lower()}.png",
                        full_page=True, clip=clip)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a home the pipeline ran in")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--screenshots", type=Path, help="save the dashboard's tabs here as PNG")
    parser.add_argument(
        "--traffic", type=int, default=0, help="rankings to serve (synthetic feedback) first"
    )
    parser.add_argument("--drift-runs", type=int, default=1, help="drift snapshots to add")
    parser.add_argument("--seed", type=int, default=7, help="of the synthetic traffic")
    parser.add_argument("--click", type=float, default=0.2, help="share of lists clicked")
    parser.add_argument("--redeem", type=float, default=0.25, help="share of clicks redeemed")
    args = parser.parse_args()  # fmt: skip
    home = args.home.resolve()
    timings: dict[str, float] = {}
    if args.traffic:
        timings |= serve(home, args.traffic, args.seed, args.click, args.redeem)
        timings["mart"] = smartstack(home, "dbt", "build", "--select", "+monitoring_outcomes_daily")
    # 1: an alarm, still pushed; 75: nothing to do
    timings["outcomes"] = smartstack(home, "monitor", "outcomes", ok=(0, 1, 75))
    for run in range(args.drift_runs):  # each run a point of the Drift plots (wall clock)
        key = "drift" if run == 0 else f"drift {run + 1}"
        timings[key] = smartstack(home, "monitor", "drift", "--no-fail-on-alarm", ok=(0, 75))
    timings["freshness"] = smartstack(home, "monitor", "freshness", ok=(0, 1, 75))
    workspace = home / "monitoring" / "workspace"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    ui = subprocess.Popen(
        [str(BIN / "evidently"), "ui", "--workspace", str(workspace), "--host", "127.0.0.1",
         "--port", str(port)],
        env={**os.environ, "DO_NOT_TRACK": "1"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/version", timeout=5):
                    break
            except OSError:
                if ui.poll() is not None or time.perf_counter() - started > 120:
                    raise SystemExit("evidently ui did not answer") from None
                time.sleep(0.2)
        ready = time.perf_counter() - started
        with urllib.request.urlopen(f"{base}/api/projects/", timeout=10) as response:
            project = next(p for p in json.loads(response.read()) if p["name"] == "smartstack")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            opened = time.perf_counter()
            page.goto(f"{base}/projects/{project['id']}", wait_until="networkidle")
            for titles in TABS.values():
                for title in titles:
                    card(page, title)
            drawn = time.perf_counter() - opened
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                shoot(page, args.screenshots)
            browser.close()
    finally:
        ui.terminate()
        ui.wait(30)
    print("| measure | seconds |\n|---|---|")
    names = {
        "serve": f"{args.traffic} rankings served (`RankingApp`, in process)",
        "land": "synthetic feedback landed (`Interactions`)",
        "mart": "`smartstack dbt build --select +monitoring_outcomes_daily`",
        "outcomes": "`smartstack monitor outcomes`",
        "drift": "`smartstack monitor drift --no-fail-on-alarm`",
        "freshness": "`smartstack monitor freshness`",
    }
    for key, seconds in timings.items():
        name = names.get(key) or f"{names['drift']} (run {key.split()[-1]})"
        print(f"| {name} | {seconds:.1f} |")
    print(f"| `evidently ui` answers `/api/version` | {ready:.1f} |")
    print(f"| project page drawn, every panel's plot (headless Chromium) | {drawn:.1f} |")


if __name__ == "__main__":
    main()
