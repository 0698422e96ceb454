"""What the fast-mode rule tests read back: the user ana's profile memories, as sorted texts."""

from __future__ import annotations

from memoryd import AsyncMemory

U = {"user_id": "ana"}


async def profile(mem: AsyncMemory, **more: object) -> list[str]:
    """ana's profile memories' texts (``more``: get_all's other arguments, say ``as_of``)."""
    page = await mem.get_all(**U, filters={"kind": "profile"}, limit=100, **more)  # type: ignore[arg-type]
    return sorted(m.text for m in page.items)
