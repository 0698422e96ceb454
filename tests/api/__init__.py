"""REST server tests: a real uvicorn server, real HTTP."""
