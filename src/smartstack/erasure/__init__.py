"""Reaching a customer in every store the platform writes: erasure (``erase``), the privacy
scan (``scan``) and retention (``retention``). It imports the stores' own modules, so it sits
above them; the records it keeps (suppression list, audit log, requests) are
:mod:`smartstack.privacy`."""
