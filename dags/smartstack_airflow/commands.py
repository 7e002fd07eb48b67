"""Run one ``smartstack`` command of the project environment inside an Airflow task.

The command's output streams into the task log line by line; its last line is the task's
return value (the commands the DAGs parse print one JSON object last). Exit codes map to task
outcomes:

- 0: success;
- a code in ``final``: fail now, without retries, because the input is wrong and a retry would
  find it wrong again (a blocking quality-gate failure exits 1, bad options exit 2);
- a code in ``skip``: the task is skipped (the serving reload when no service runs, 75);
- anything else: fail, and Airflow retries with backoff (a locked file, a registry that blinked).
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Collection, Sequence

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from smartstack_airflow.project import REPO, SMARTSTACK, project_environment

log = logging.getLogger(__name__)



def run_smartstack(
    args: Sequence[object], final: Collection[int] = (), skip: Collection[int] = ()
) -> str:
    """Run ``smartstack ARGS``; return its last output line (see the module docstring)."""
    command = [str(SMARTSTACK), *(str(a) for a in args)]
    log.info("$ %s", shlex.join(command))
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=project_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    last = ""
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            if line:
                log.info("%s", line)
                last = line
        code = process.wait()
    finally:
        if process.poll() is None:  # the task itself was stopped: timeout, marked failed
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    what = f"`smartstack {' '.join(str(a) for a in args[:2])}`"
    if code in skip:
        raise AirflowSkipException(f"{what} exited {code}: {last}")
    if code in final:
        raise AirflowFailException(f"{what} exited {code} (not retried): {last}")
    if code != 0:
        raise RuntimeError(f"{what} exited {code}: {last}")
    return last
