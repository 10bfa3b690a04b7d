"""Where torinvest keeps files between runs (caches); both honour environment overrides."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$TORINVEST_CACHE``, else ``$XDG_CACHE_HOME/torinvest``, else ``~/.cache/torinvest``."""
    if os.environ.get("TORINVEST_CACHE"):
        return Path(os.environ["TORINVEST_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "torinvest"


def tor_cache() -> Path:
    """Where refreshed Tor exit lists are kept: ``<cache root>/tor``."""
    return cache_root() / "tor"
