"""Log readers: one module per format, each yielding the canonical schema.

Nothing here knows about reports or the store: a reader turns bytes into canonical rows,
skipped-line counts and rejects, and that is all.
"""

from tierlens.sources.base import Context, Parsed, RawField, Reader, parse_chunk
from tierlens.sources.detect import FORMATS, detect_format, make_reader

__all__ = [
    "FORMATS",
    "Context",
    "Parsed",
    "RawField",
    "Reader",
    "detect_format",
    "make_reader",
    "parse_chunk",
]
