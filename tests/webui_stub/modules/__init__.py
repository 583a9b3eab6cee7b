"""Stand-in for the web UI's ``modules`` package (tests only)."""
