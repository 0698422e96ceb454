"""PostgreSQL backends (extra ``memoryd[postgres]``): the vector index, on pgvector."""
