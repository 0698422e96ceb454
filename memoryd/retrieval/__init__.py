"""How memories are found: hybrid (dense + BM25) retrieval and score fusion."""

from memoryd.retrieval.fusion import Candidate, fuse
from memoryd.retrieval.hybrid import HybridSearcher

__all__ = ["Candidate", "HybridSearcher", "fuse"]
