"""`GET /api/v1/credits/check/?agent_id=&amount=` over HTTP: 4 clients asking whether agents may spend, p50 and p95.

The issue's target is p95 <= 15 ms on the bench machine.
"""

import http.client
import statistics
import threading
import time

CHECK_PATH = "/api/v1/credits/check/"
CHECK_REQUESTS = 2000  # in all, shared by the clients
WARM_UP = 20  # per client, not timed
AMOUNTS = ("0.5", "10", "250")


def check_path(agent_id: str, amount: str) -> str:
    return f"{CHECK_PATH}?agent_id={agent_id}&amount={amount}"


def get(connection: http.client.HTTPConnection, key: str, path: str) -> tuple[int, bytes]:
    connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    return response.status, response.read()


def timed_checks(port: int, key: str, paths: list[str]) -> list[float]:
    """One client on one keep-alive connection: milliseconds of each GET after its warm-up."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    samples = []
    for index, path in enumerate(paths[:WARM_UP] + paths):
        started = time.perf_counter()
        status, body = get(connection, key, path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
        if index >= WARM_UP:
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure_credits_check(port: int, key: str, agent_ids: list[str], clients: int = 4) -> dict:
    """p50 and p95 of CHECK_REQUESTS checks spread over `clients` concurrent clients and the agents."""
    paths = [check_path(agent_ids[n % len(agent_ids)], AMOUNTS[n % len(AMOUNTS)]) for n in range(CHECK_REQUESTS)]
    samples: list[float] = []
    failures: list[Exception] = []

    def client(share: list[str]) -> None:
        try:
            samples.extend(timed_checks(port, key, share))  # list.extend is atomic under the GIL
        except Exception as exc:  # reported below, from the main thread
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(paths[n::clients],)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} check clients failed, first: {failures[0]}")
    cuts = statistics.quantiles(samples, n=100)
    return {"check_requests": len(samples), "check_p50_ms": statistics.median(samples), "check_p95_ms": cuts[94]}


def report_check(results: dict) -> None:
    if "check_p95_ms" in results:
        print(f"credits/check, 4 clients   p50 {results['check_p50_ms']:.1f} ms, p95 {results['check_p95_ms']:.1f} ms  "
              f"over {results['check_requests']:,} requests (goal: p95 <= 15 ms)")
