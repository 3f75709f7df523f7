"""Key management as a feature: status, rotate, rewrap, reindex, retire (README "Key rotation runbook").

``app/crypto`` holds the primitives (keyring file, envelope, signatures); this package holds the use cases
and jobs that change which key protects what. What differs between key kinds is written once, in the
table of :mod:`app.keys.rules`.
"""
