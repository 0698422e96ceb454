"""What the fast-mode rule tests read back: the user ana's profile memories, as sorted texts."""

from __future__ import annotations

from memoryd import AddResult, AsyncMemory

U = {"user_id": "ana"}


async def profile(mem: AsyncMemory, **more: object) -> list[str]:
    """ana's profile memories' texts (``more``: get_all's other arguments, say ``as_of``)."""
    page = await mem.get_all(**U, filters={"kind": "profile"}, limit=100, **more)  # type: ignore[arg-type]
    return sorted(m.text for m in page.items)


async def states_nothing(mem: AsyncMemory, before: str, said: str, first: str, then: str) -> None:
    """``said`` (at ``then``) after ``before`` (at ``first``) is stored as an episode only, and
    every profile memory, current or ended, is as it was."""
    await mem.add(before, **U, timestamp=first)
    stored = await profile(mem, include_expired=True)
    out = await mem.add(said, **U, timestamp=then)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(mem, include_expired=True) == stored


async def profile_change(mem: AsyncMemory, before: str, said: str, first: str, then: str) -> AddResult:
    """The one profile change ``said`` (at ``then``) makes after ``before`` (at ``first``)."""
    await mem.add(before, **U, timestamp=first)
    out = await mem.add(said, **U, timestamp=then)
    [change] = [r for r in out if r.kind == "profile"]
    return change


async def supersedes(
    mem: AsyncMemory, before: str, said: str, ended: str, now: str, first: str, then: str
) -> None:
    """``said`` (at ``then``) after ``before`` (at ``first``) makes one profile change: ``now``
    supersedes ``ended``, which is kept, ended."""
    change = await profile_change(mem, before, said, first, then)
    assert (change.event, change.text, change.previous) == ("SUPERSEDE", now, ended)
    assert await profile(mem) == [now]
    assert await profile(mem, include_expired=True) == sorted([ended, now])
