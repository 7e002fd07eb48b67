"""Online offer ranking: the logic behind the BentoML service in ``serving/``.

The service file is glue; everything it does is built here by :func:`app.build_app`, so the
fallback chain can be tested without a server and reused by other front ends.
"""
