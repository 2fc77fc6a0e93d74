import threading

from django.db import close_old_connections, connection


def run_in_threads(count: int, target, *, connections: int | None = None) -> list[BaseException]:
    """Runs `target(index)` in `count` threads released together; returns what they raised.

    `connections` caps how many threads hold a database connection at once (each closes its own when done): a
    hundred racing threads would pass PostgreSQL's max_connections (100 by default) beside the suite's own.
    """
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)
    slots = threading.BoundedSemaphore(connections or count)

    def run(index):
        barrier.wait()
        with slots:
            try:
                target(index)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted on by the test
                errors.append(exc)
            finally:
                close_old_connections()
                connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
