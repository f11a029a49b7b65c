"""Quality judgments beside the costs: eval scores, thumbs, escalations (`tierlens ingest --quality`).

`read.py` reads a file of them, `store.py` keeps them in `<data>/quality/` apart from the cost
rows, `evidence.py` joins them to the requests they judge and sums them per feature and model for
`tierlens.signals.quality`, the report's quality column and the replay's quality-risk grade.
"""

from tierlens.quality.evidence import Score, compare, judged, metric_kind, scores
from tierlens.quality.read import QUALITY_SCHEMA, QualityFile, read_quality_file
from tierlens.quality.store import QualityIngest, ingest_quality, stored_quality

__all__ = [
    "QUALITY_SCHEMA",
    "QualityFile",
    "QualityIngest",
    "Score",
    "compare",
    "ingest_quality",
    "judged",
    "metric_kind",
    "read_quality_file",
    "scores",
    "stored_quality",
]
