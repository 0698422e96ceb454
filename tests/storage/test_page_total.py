"""A page's ``total`` counts the listing the page is of, while another writer adds.

``get_all`` counted the memories, then read the page, in two statements with no transaction
around them: a commit landing between the two gave "total 37" with 38 items on the only page.
Both now read one state of the file."""

from __future__ import annotations

import threading

from memoryd import Memory, Settings
from memoryd.embedders.use import USEEmbedder


def test_total_and_items_agree_while_another_writer_adds(settings: Settings, embedder: USEEmbedder) -> None:
    with Memory(settings, embedder=embedder) as reader, Memory(settings, embedder=embedder) as writer:
        reader.add("seed", user_id="u")
        done = threading.Event()

        def write() -> None:
            try:
                for i in range(150):
                    writer.add(f"fact number {i}", user_id="u", mode="fast")
            finally:
                done.set()

        thread = threading.Thread(target=write)
        thread.start()
        pages = 0
        try:
            while not done.is_set() or pages == 0:
                page = reader.get_all(user_id="u", limit=1000, filters={"kind": "episode"})
                assert page.total == len(page.items), (page.total, len(page.items))
                pages += 1
        finally:
            thread.join()
        assert reader.get_all(user_id="u", limit=1000, filters={"kind": "episode"}).total == 151
