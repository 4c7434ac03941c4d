"""Flask blueprints, Messenger I/O and the background jobs: the thin layer around the pure engine."""
