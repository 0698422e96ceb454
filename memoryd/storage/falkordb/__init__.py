"""FalkorDB backends (extra ``memoryd[falkordb]``): the graph store."""
