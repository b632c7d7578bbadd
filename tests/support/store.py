"""Store situations several tests set up."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def writer_held(store: Any) -> Iterator[Callable[[], None]]:
    """Another thread of this process in a store transaction (as the journal consumer opening
    incidents) until the returned function is called."""
    inside, done = threading.Event(), threading.Event()

    def hold() -> None:
        with store.session():
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    inside.wait(10)
    try:
        yield done.set
    finally:
        done.set()
        thread.join(10)
