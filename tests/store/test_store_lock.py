"""On SQLite, threads of one process take turns on the store (a lock that hands over at once)
instead of meeting on SQLite's write lock, whose busy handler sleeps between retries."""

from __future__ import annotations

import threading

from hotline_ops.store.db import Store


def test_it_lets_a_second_thread_in_only_after_the_first_session_ends(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    inside = threading.Event()
    order: list[str] = []

    def first() -> None:
        with store.session():
            order.append("first in")
            inside.set()
            threading.Event().wait(0.3)  # hold the session while the second thread asks
            order.append("first out")

    def second() -> None:
        inside.wait(5)
        with store.session():
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    store.engine.dispose()
    assert order == ["first in", "first out", "second in"]


def test_it_lets_the_same_thread_nest_sessions(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.session(), store.session() as inner:
        assert inner.connection() is not None  # no deadlock on its own lock
    store.engine.dispose()
