"""The monitoring dashboard on a built home: how long ``evidently ui`` takes to answer and the
project page to draw, and a screenshot of each tab.

Runs the monitoring commands on the home first (``smartstack monitor outcomes`` and
``freshness``, as the daily DAG's monitoring tasks do: each pushes a snapshot to
``<monitoring_dir>/workspace``), then starts ``evidently ui`` over that workspace, as
``smartstack up`` does, and opens the project page in headless Chromium (Debian's, driven by
Playwright).

    .venv/bin/python bench/bench_dashboard.py --home var --screenshots docs/img

Prints the timings as a Markdown table; with ``--screenshots``, saves the project page (the
UI draws every tab's panels on it) as ``monitoring-dashboard.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def monitor(home: Path, command: str) -> None:
    env = {**os.environ, "SMARTSTACK_HOME": str(home)}
    done = subprocess.run([str(BIN / "smartstack"), "monitor", command], env=env, check=False,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode not in (0, 1, 75):  # 1: an alarm, still pushed; 75: nothing to do
        raise SystemExit(f"smartstack monitor {command} exited {done.returncode}: {done.stderr}")
    print(f"smartstack monitor {command}: exit {done.returncode} {done.stdout.strip()[-200:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a home the pipeline ran in")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--screenshots", type=Path, help="save the dashboard's tabs here as PNG")
    args = parser.parse_args()
    home = args.home.resolve()
    for command in ("outcomes", "freshness"):
        monitor(home, command)
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
            page.get_by_text("Feature view age", exact=False).first.wait_for()
            drawn = time.perf_counter() - opened
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                page.wait_for_timeout(1500)  # the plots animate in
                shot = args.screenshots / "monitoring-dashboard.png"
                page.screenshot(path=shot, full_page=True)
            browser.close()
    finally:
        ui.terminate()
        ui.wait(30)
    print("| measure | seconds |\n|---|---|")
    print(f"| `evidently ui` answers `/api/version` | {ready:.1f} |")
    print(f"| project page drawn (headless Chromium) | {drawn:.1f} |")


if __name__ == "__main__":
    main()
