"""Data-quality gates: Great Expectations suites that stand between each pipeline step.

The suites themselves live in the repository's ``expectations/`` folder as reviewable Python;
this package loads the data, runs the suites as GX checkpoints, writes Data Docs under
``<home>/quality/`` and stops the pipeline when a blocking expectation fails.

Nothing is re-exported here on purpose: importing Great Expectations takes several seconds, so
``smartstack --help`` must not pay for it. Import ``smartstack.quality.gate`` where you run a gate.
"""
