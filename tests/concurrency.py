import threading

from django.db import close_old_connections, connection


def run_in_threads(count: int, target) -> list[BaseException]:
    """Runs `target(index)` in `count` threads released together; returns what they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait()
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
