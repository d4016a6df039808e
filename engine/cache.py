"""One cache folder for everything derived and re-computable; :mod:`engine.paths` owns
where it is (``$SONOLUME_CACHE_DIR``), this name stays for the modules that import it."""

from engine.paths import cache_dir, cache_root

__all__ = ["cache_dir", "cache_root"]
