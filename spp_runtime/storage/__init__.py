"""Server-side storage of secret shares: one share store per primary server (P2 has none).

``meta`` (what an upload declares, what a server records), ``atomic`` (crash-safe file
writes), ``store`` (:class:`ShareStore`: uploads with a two-phase commit, committed datasets),
``coordinator`` (the commit protocol across P0 and P1 as a pure state machine).
See ``docs/STORAGE.md``.
"""
