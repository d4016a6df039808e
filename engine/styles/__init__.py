"""The style library: styles as validated folders, the bundled starter set, sharing."""

from engine.styles.library import BUNDLED_DIR, Library, slugify
from engine.styles.style import SCHEMA_VERSION, Style, read_style, write_style

__all__ = ["BUNDLED_DIR", "SCHEMA_VERSION", "Library", "Style", "read_style", "slugify",
           "write_style"]
