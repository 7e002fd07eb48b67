"""Benchmark the customer's web app in a real browser: JavaScript size and time to the first offer.

Starts ``bentoml serve`` (the ranking service, which serves the built app under ``/app/``) on a
built home, then opens the app signed in as real customers in headless Chromium (Debian's, driven
by Playwright) and reads the browser's own clock (the Performance API, not a timer around the
browser): the app marks ``first-offer`` when the first ranked offer is on screen, measured from
the start of the navigation. Beside it, from the same navigations: when the HTML arrived, when
the first paint happened (the sign-in-free floor of any page), and when ``/rank`` answered, so
the time splits into network, the app's start, the ranking and rendering.

Two cases per customer: a first visit (a new browser context, nothing cached) and a return
visit (the same context again: the hashed assets come from the browser's cache, as the
``immutable`` header allows). Each navigation asks about a different customer, so the service
ranks for real every time (warm: a few navigations before the recorded ones).

    .venv/bin/python bench/bench_web.py --home var --runs 40 --screenshots docs/img

Prints a Markdown table and writes ``<home>/bench_web.json``; with ``--screenshots``, also
saves each page of the app at desktop and phone width (the README shows them).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_serving  # noqa: E402  (the sibling script: its processes and home)

WARM_UP = 3
SIZES = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
# What the browser's Performance API tells, per navigation (milliseconds from its start).
TIMINGS_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const rank = performance.getEntriesByType('resource').find(r => r.name.endsWith('/rank'));
  const offer = performance.getEntriesByName('first-offer')[0];
  return {html: nav.responseEnd, first_paint: paint ? paint.startTime : null,
          rank_sent: rank ? rank.startTime : null, rank_answered: rank ? rank.responseEnd : null,
          first_offer: offer ? offer.startTime : null};
}"""


def javascript_gzipped(dist: Path) -> tuple[int, int]:
    """Bytes of the app's JavaScript, raw and gzipped (level 9, as an edge would serve it)."""
    scripts = sorted((dist / "assets").glob("*.js"))
    raw = sum(p.stat().st_size for p in scripts)
    zipped = sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in scripts)
    return raw, zipped


def summarize(rows: list[dict], key: str) -> dict:
    values = sorted(r[key] for r in rows if r[key] is not None)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {"median_ms": round(statistics.median(values), 1), "p95_ms": round(p95, 1)}


def screenshots(browser, url: str, token: str, out: Path) -> None:  # noqa: ANN001
    """Each page of the app at each width: sign-in, offers with progress and the quiz, and the
    error state (the ranking request made to fail in the browser, as a stopped service does)."""
    out.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        context = browser.new_context(viewport=viewport, device_scale_factor=1)
        page = context.new_page()
        page.goto(f"{url}/app/")
        page.get_by_test_id("sign-in-customer").first.wait_for()
        page.screenshot(path=out / f"web-sign-in-{size}.png", full_page=True)
        page.goto("about:blank")  # a new load: the app reads the handed-over token when it starts
        page.goto(f"{url}/app/#token={token}")
        page.get_by_test_id("offer").first.wait_for()
        page.get_by_test_id("engagement").wait_for()
        page.screenshot(path=out / f"web-offers-{size}.png", full_page=True)
        page.route("**/rank", lambda route: route.abort())
        page.get_by_role("button", name="Refresh").click()
        page.get_by_test_id("error").wait_for()
        page.screenshot(path=out / f"web-error-{size}.png", full_page=True)
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=Path("var"))
    parser.add_argument("--customers", type=int, default=10_000, help="if the home is empty")
    parser.add_argument("--runs", type=int, default=30, help="navigations per case")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--screenshots", type=Path, help="save each page here as PNG")
    args = parser.parse_args()
    home = args.home.resolve()
    os.environ["SMARTSTACK_HOME"] = str(home)

    from playwright.sync_api import sync_playwright

    from smartstack.paths import WEB_DIST
    from smartstack.settings import Settings

    if not (WEB_DIST / "index.html").is_file():
        raise SystemExit("the web app is not built: run `make web` first")
    bench_serving.ensure_data(home, args.customers)
    settings = Settings(home=home)
    bench_serving.ensure_model(settings)
    customers = bench_serving.customer_ids(settings)
    raw_js, gzipped_js = javascript_gzipped(WEB_DIST)

    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    port = bench_serving.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **settings.environment(),
        "BENTOML_HOME": str(work / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "SMARTSTACK_SERVING_FREQUENCY_CAP": "0",
    }
    import httpx

    with (
        bench_serving.bentoml_serve(
            "serving.service:RankingService", port, work / "server.log", bench_serving.ROOT, env
        ),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=args.chromium)
        tokens = iter(
            httpx.post(f"{url}/auth/token", json={"customer_id": c}).json()["token"]
            for c in customers
        )

        def visit(context) -> dict:  # noqa: ANN001 (a Playwright browser context)
            page = context.new_page()
            page.goto(f"{url}/app/#token={next(tokens)}")
            page.wait_for_function("performance.getEntriesByName('first-offer').length > 0")
            timings = page.evaluate(TIMINGS_JS)
            page.close()
            return timings

        results: dict[str, list[dict]] = {"first visit": [], "return visit": []}
        returning = browser.new_context()
        for i in range(WARM_UP + args.runs):
            first = browser.new_context()
            cold = visit(first)
            first.close()
            warm = visit(returning)
            if i >= WARM_UP:
                results["first visit"].append(cold)
                results["return visit"].append(warm)
        if args.screenshots:
            screenshots(browser, url, next(tokens), args.screenshots)
        browser.close()

    keys = ("html", "first_paint", "rank_sent", "rank_answered", "first_offer")
    summary = {
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "javascript_bytes": raw_js,
        "javascript_gzipped_bytes": gzipped_js,
        "runs": args.runs,
        "cases": {case: {k: summarize(rows, k) for k in keys} for case, rows in results.items()},
    }
    (home / "bench_web.json").write_text(json.dumps(summary, indent=2))
    print(f"JavaScript: {raw_js / 1000:.1f} kB, {gzipped_js / 1000:.1f} kB gzipped")
    print(f"load average: {summary['load_average']}")
    print("| case | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for case, stats in summary["cases"].items():
        cells = [f"{stats[k]['median_ms']} (p95 {stats[k]['p95_ms']})" for k in keys]
        print(f"| {case} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
