"""Milvus backends (extra ``memoryd[milvus]``): the vector index."""
