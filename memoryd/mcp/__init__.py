"""memoryd as a Model Context Protocol server: memory tools for agents (``memoryd mcp``).

- :mod:`memoryd.mcp.tools` — the tools (add, search, context, list, get, update, delete,
  history) over :class:`~memoryd.AsyncMemory`, optionally bound to one scope;
- :mod:`memoryd.mcp.protocol` — JSON-RPC 2.0 and the MCP lifecycle, transport-agnostic;
- :mod:`memoryd.mcp.stdio` — the stdio transport.
"""

from memoryd.mcp.protocol import PROTOCOL_VERSIONS, McpSession
from memoryd.mcp.stdio import serve_stdio
from memoryd.mcp.tools import Tool, build_tools

__all__ = ["PROTOCOL_VERSIONS", "McpSession", "Tool", "build_tools", "serve_stdio"]
