"""CI gates: the manifest, coverage, drift, the pytest plugin."""
