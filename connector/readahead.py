"""Read-ahead: fetch the next extract page while the current batch is mapped, scored and written.

`read_ahead(pages)` iterates `pages` on one worker thread, at most one page ahead of the consumer
(a queue of one slot, plus the page the worker holds while it waits to put it). Pages and the
error that ends the source come out in the order the source produced them. When the consumer stops
early (a stop request, a quota stop, a crash: the generator is closed or collected), the worker is
told to stop, the source is closed on the worker's thread, and the thread is joined before
`read_ahead` returns, so no thread outlives the loop that used it. The worker is a lane
(`connector.crm.concurrency`): CRM clients give it a session of its own, apart from the writes'.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from typing import TypeVar

from connector.crm.concurrency import enter_lane

__all__ = ["read_ahead"]

T = TypeVar("T")

_END = object()
_POLL = 0.05  # seconds between the worker's checks for a consumer that went away while it waits to put


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(pages: Iterable[T], *, name: str = "read-ahead") -> Generator[T, None, None]:
    """The items of `pages`, produced one ahead on a worker thread."""
    slot: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slot.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        enter_lane()
        source: Iterator[T] = iter(pages)
        try:
            for page in source:
                if not put(page):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there in order
            put(_Failed(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # a generator source runs its own clean-up (finally blocks) here

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = slot.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
