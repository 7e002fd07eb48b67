"""Privacy's own records: consent purposes, the suppression list of erased customers and the
hash-chained audit log. Pure: imports nothing of the platform but its settings, so every layer
(ingestion, the stream, serving, the pipeline) can honour them; erasing a customer from the
stores is :mod:`smartstack.erasure`, which imports the stores."""
