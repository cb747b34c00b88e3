"""Read ahead in a thread: the next chunks are parsed while the database writes
this one (the database clients release the GIL while they work)."""

from __future__ import annotations

import queue
import threading
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator


@contextmanager
def prefetched(produce: Callable[[], Iterable], depth: int = 2) -> Iterator[Iterator]:
    """Iterate produce() in a producer thread, at most depth items ahead.

    Leaving the block early stops the producer; its error (if the caller's own
    did not come first) is raised when the block ends."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    outcome: dict = {}
    producer = threading.Thread(target=_produce, args=(produce, items, outcome),
                                name="read-ahead", daemon=True)
    producer.start()

    def stream():
        while True:
            item = items.get()
            if item is _DONE:
                return
            yield item

    try:
        yield stream()
    finally:
        outcome.setdefault("abandoned", True)  # stop a producer the caller gave up on
        while producer.is_alive():
            try:
                items.get(timeout=0.05)
            except queue.Empty:
                pass
        producer.join()
    if "error" in outcome:
        raise outcome["error"]


def _produce(produce, items: queue.Queue, outcome: dict) -> None:
    """The producer thread. The iterator is closed here, so a generator's own
    clean-up (its finally) runs in this thread, however the loop ends."""
    iterator = iter(())
    try:
        iterator = iter(produce())
        for item in iterator:
            if outcome.get("abandoned"):
                break
            items.put(item)
    except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
        outcome["error"] = exc
    finally:
        try:
            getattr(iterator, "close", lambda: None)()
        except BaseException as exc:  # noqa: BLE001
            outcome.setdefault("error", exc)
        items.put(_DONE)


_DONE = object()
