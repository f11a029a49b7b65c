"""Log readers: one module per format, each yielding the canonical schema.

Nothing here knows about reports or the store: a reader turns bytes into canonical rows,
skipped-line counts and rejects, and that is all.
"""

from tierlens.sources.base import Batch, Context, Input, Parsed, RawField, Reader, Record
from tierlens.sources.detect import FORMATS, detect_format, detect_reader, formats, make_reader, match_path
from tierlens.sources.inputs import read_input
from tierlens.sources.parse import parse_batch, parse_chunk, parse_records

__all__ = [
    "FORMATS",
    "Batch",
    "Context",
    "Input",
    "Parsed",
    "RawField",
    "Reader",
    "Record",
    "detect_format",
    "detect_reader",
    "formats",
    "make_reader",
    "match_path",
    "parse_batch",
    "parse_chunk",
    "parse_records",
    "read_input",
]
