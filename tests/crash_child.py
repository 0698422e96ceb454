"""Child process for the crash test: ingest forever, print each acknowledged id."""

from __future__ import annotations

import sys

from memoryd import Memory, load_settings


def main(path: str, start: int) -> None:
    settings = load_settings(env={}, overrides={"storage": {"path": path}})
    with Memory(settings) as mem:
        print("ready", flush=True)
        i = start
        while True:
            batch = [f"crash test message {i + k} about topic {(i + k) % 17}" for k in range(3)]
            for result in mem.add(batch, user_id="crash", run_id=f"s{i // 30}"):
                print(result.id, flush=True)  # printed only after the write was acknowledged
            i += 3


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
