"""Retrieval-quality benchmarks: LoCoMo and LongMemEval, memoryd next to BM25 and mem0.

``memoryd bench locomo`` and ``memoryd bench longmemeval`` run
:func:`~memoryd.bench.quality.runner.run_quality`. The parts: dataset loaders
(:mod:`.locomo`, :mod:`.longmemeval`, shared shapes in :mod:`.data`), pure
metric functions (:mod:`.metrics`), the systems compared (:mod:`.systems`,
:mod:`.bm25_baseline`), a persistent embedding cache (:mod:`.cache`), and
the report (:mod:`.report`).
"""

from __future__ import annotations

from memoryd.bench.quality.results import QualityResult, SystemRun
from memoryd.bench.quality.runner import DATASETS, Answerer, QualityConfig, run_quality, run_quality_async

__all__ = [
    "DATASETS",
    "Answerer",
    "QualityConfig",
    "QualityResult",
    "SystemRun",
    "run_quality",
    "run_quality_async",
]
