"""Qdrant backends (extra ``memoryd[qdrant]``): the vector index."""
