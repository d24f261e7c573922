"""Run a function in several threads at once, each on its own database connection.

The race tests use it to show a guard holds when requests really overlap (on PostgreSQL in
CI's second pass; SQLite serializes writers, so there they only show nothing breaks).
"""

import threading

from django.db import connection


def race(count: int, work, timeout: float = 60.0) -> list:
    """work(i) in `count` threads released together; returns results (or exceptions) by i."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        try:
            barrier.wait(timeout)
            results[i] = work(i)
        except BaseException as exc:  # handed back to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a racing thread did not finish"
    return results


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"
