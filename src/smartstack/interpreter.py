"""How the project's own processes run Python: optimized (``-O``).

Feast decorates its definition classes with typeguard's ``@typechecked``, which parses and
recompiles their modules' source whenever Feast is imported: about 4.8 of the 7.5 s a process
here takes to import it (``docs/benchmarks.md``, "Python's -O for the project's processes").
typeguard is a no-op under ``-O`` by design (its checks are meant for development, not for
production), and the project's own ``assert`` statements only narrow types. Every step Airflow
starts and every long-running service is a fresh process that imports Feast, so they run with
:data:`OPTIMIZED` in their environment. ``make setup`` compiles the environment's bytecode at
that level as well; without it (and with ``PYTHONDONTWRITEBYTECODE`` set) each process would
compile every module it imports again.

Standard library only: the DAGs import it from Airflow's environment.
"""

from __future__ import annotations

OPTIMIZED: dict[str, str] = {"PYTHONOPTIMIZE": "1"}
