"""Shared test settings."""

import os

from hypothesis import settings

# In CI, property tests draw the same examples every run, so a red build is reproducible.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
