"""Peers in the benchmark (issue 19): the analytics questions asked of Ledgerline and of in-process SQL engines.

    make bench-analytics BENCH_ARGS="--reuse --fresh 0 --peers"     # the database as it is: nothing ingested or built

The bench database's records are exported once with COPY (bench/out/peers/<database>/, reused while every table's
row count and newest id are unchanged) and loaded into each engine sorted by (outlet, time). Then, round after
round (the first a warm-up, not timed), each question is asked once of each system in turn: Ledgerline over HTTP
(gunicorn as `make serve` runs it: keep-alive off, a connection per request), Ledgerline's selector in process,
and each engine, whose time is its query and the fetch of its rows into Python (not the rendering of the answer). Every answer is checked against Ledgerline's
HTTP answer of the same round; the first difference stops the run. p50/p95 per question and system, and the ratio
of Ledgerline's HTTP p50 to each engine's, are printed and written to bench/out/peers.json.
"""

import gc
import http.client
import json
import statistics
import time
from datetime import UTC
from pathlib import Path

from bench.asking import asking_headers, get, p95, question_dates, warm_up
from bench.peer_data import Export
from bench.peer_questions import LIMIT, QUESTIONS, Question, first_difference, parameters_of
from bench.run import log, start_gunicorn

HTTP = "ledgerline http"
SELECTOR = "ledgerline selector"


class LedgerlineHttp:
    """Ledgerline over HTTP, as an outlet's key or a staff session: one connection each, reused as http_times's is
    (http.client reopens it where the server closed it: SERVER_KEEPALIVE_SECONDS is 0 by default)."""

    name = HTTP

    def __init__(self, port: int, outlet_headers: dict, staff_headers: dict):
        self.connections = {every: http.client.HTTPConnection("127.0.0.1", port, timeout=300) for every in (False, True)}
        self.headers = {False: outlet_headers, True: staff_headers}

    def ask(self, question: Question, parameters: dict) -> bytes:
        return get(self.connections[question.every_outlet], self.headers[question.every_outlet],
                   question.path.format(**parameters))

    def answer(self, question: Question, body: bytes, parameters: dict) -> dict:
        return json.loads(body)


class LedgerlineSelector:
    """The selector behind each endpoint, in this process, asked as the endpoint asks it."""

    name = SELECTOR

    def __init__(self, outlet, dates: dict):
        from analytics.questions.breakdown import Breakdown, usage_breakdown
        from analytics.questions.series import usage_series
        from analytics.questions.spend import spend_overview
        from analytics.questions.summary import model_usage, usage_summary
        from config.api.dates import DateRange

        one = {"outlet_id": outlet.pk, "date_range": DateRange(dates["start30"], dates["end"], outlet.zone)}
        every = {"outlet_id": None, "date_range": DateRange(dates["start90"], dates["end"], UTC)}
        users, hourly = Breakdown("credits", "user", "day", {}, LIMIT), Breakdown("units", "type", "hour", {}, LIMIT)
        self.calls = {
            "series": lambda: usage_series(outlet_id=outlet.pk, days=30),
            "models": lambda: model_usage(**one),
            "spend": lambda: spend_overview(**one),
            "top users per day": lambda: usage_breakdown(**one, question=users),
            "top users per day, every outlet": lambda: usage_breakdown(**every, question=users),
            "hourly by type": lambda: usage_breakdown(**one, question=hourly),
            "summary by agent, every outlet": lambda: usage_summary(**every, group_by="AGENT"),
        }

    def ask(self, question: Question, parameters: dict):
        return self.calls[question.name]()

    def answer(self, question: Question, result, parameters: dict) -> dict:
        """The result rendered by the endpoint's serializer, as a client reads it."""
        from rest_framework.renderers import JSONRenderer

        from analytics.api import serializers

        rendered = {"from": parameters["first"], "to": parameters["last"]}
        if question.name == "models":
            data = serializers.ModelUsageSerializer({**rendered, "model_type": None, "items": result}).data
        elif question.name.startswith("summary"):
            data = serializers.UsageSummarySerializer({**rendered, "group_by": "AGENT", "items": result}).data
        else:
            serializer = {
                "series": serializers.UsageSeriesSerializer, "spend": serializers.SpendOverviewSerializer,
            }.get(question.name, serializers.UsageBreakdownSerializer)
            data = serializer(result, context={"metric": result.get("metric")}).data
        return {"success": True, **json.loads(JSONRenderer().render(data))}


class Engine:
    """A peer engine: its time is the query and the fetch of its rows; its answer, the rows as the API writes them."""

    def __init__(self, engine):
        self.engine, self.name = engine, engine.name

    def ask(self, question: Question, parameters: dict) -> list[tuple]:
        return self.engine.ask(question.name, parameters)

    def answer(self, question: Question, rows: list[tuple], parameters: dict) -> dict:
        return question.shape(rows, parameters)


def engines(export: Export) -> tuple[list, dict]:
    """Each engine that loads here, loaded (once per export), and what each load took."""
    from bench.peer_chdb import ChdbPeer
    from bench.peer_duckdb import DuckDBPeer

    peers, loads = [], {}
    for kind in (DuckDBPeer, ChdbPeer):
        log(f"loading {kind.name}")
        peer = kind(export)
        loads[peer.name] = {**peer.load, "version": peer.version}
        log(f"  {peer.load['loaded_s']:.1f} s{' (reused)' if peer.load['reused'] else ''}")
        peers.append(Engine(peer))
    return peers, loads


def asked_in_rounds(systems: list, outlet, dates: dict, repeat: int) -> dict:
    """Each question of each system in turn, `repeat` rounds after a warm-up one: the times in ms (the warm-up's not
    kept), every answer checked against Ledgerline's over HTTP."""
    samples = {question.name: {system.name: [] for system in systems} for question in QUESTIONS}
    for round_number in range(repeat + 1):
        for question in QUESTIONS:
            parameters = parameters_of(question, outlet, dates)
            expected = None
            for system in systems:
                # As timeit does: a collection of this process's heap, which the engines fill, is no system's cost.
                gc.disable()
                try:
                    started = time.perf_counter()
                    raw = system.ask(question, parameters)
                    elapsed = (time.perf_counter() - started) * 1000
                finally:
                    gc.enable()
                answer = system.answer(question, raw, parameters)
                if expected is None:
                    expected = answer
                elif (difference := first_difference(expected, answer)) is not None:
                    raise SystemExit(f"{question.name}: {system.name}'s answer differs from Ledgerline's over HTTP at {difference}")
                if round_number:
                    samples[question.name][system.name].append(elapsed)
        log(f"  round {round_number or 'warm-up'}: every answer equal")
    return samples


def figures(samples: dict) -> dict:
    """p50/p95 per question and system, and Ledgerline's HTTP p50 over each engine's."""
    result = {}
    for question, by_system in samples.items():
        result[question] = {
            system: {"p50_ms": statistics.median(times), "p95_ms": p95(times), "samples_ms": times}
            for system, times in by_system.items()
        }
        http_p50 = result[question][HTTP]["p50_ms"]
        result[question]["http_p50_over"] = {
            system: http_p50 / result[question][system]["p50_ms"] for system in by_system if system not in (HTTP, SELECTOR)
        }
    return result


def measure_peers(args, env: dict, outlet, url: str, out: Path) -> dict:
    """Exports (or reuses), loads, asks in rounds; the results, also written to `out`/peers.json."""
    log("exporting the records")
    export = Export(out / "peers" / args.database)
    exported = export.refresh(url)
    log(f"  {exported['exported_s']:.1f} s{' (reused)' if exported['reused'] else ''}")
    peers, loads = engines(export)
    dates = question_dates()
    outlet_headers, staff_headers = asking_headers(outlet)
    server = start_gunicorn(env, args.port)
    try:
        warm_up(args.port, outlet_headers, "/api/v1/usage/series/?days=1")
        warm_up(args.port, staff_headers, "/api/v1/usage/series/?days=1")
        systems = [LedgerlineHttp(args.port, outlet_headers, staff_headers), LedgerlineSelector(outlet, dates), *peers]
        log(f"asking {len(QUESTIONS)} questions of {len(systems)} systems, {args.repeat} rounds after a warm-up")
        samples = asked_in_rounds(systems, outlet, dates, args.repeat)
    finally:
        server.terminate()
        server.wait(timeout=30)
    results = {
        "database": args.database, "rows": exported["stamp"], "one_outlet": {"name": outlet.name, "zone": outlet.timezone},
        "export": exported, "engines": loads, "rounds": args.repeat, "questions": figures(samples),
    }
    (out / "peers.json").write_text(json.dumps(results, indent=2, default=str))
    report(results)
    return results


def report(results: dict) -> None:
    systems = [name for name in next(iter(results["questions"].values())) if name != "http_p50_over"]
    engines_ = [name for name in systems if name not in (HTTP, SELECTOR)]
    print()
    print(f"{results['rows']['usage'][0]:,} usage records; one outlet: {results['one_outlet']['name']} "
          f"({results['one_outlet']['zone']}); p50 / p95 ms over {results['rounds']} rounds")
    header = "".join(f"{name:>22}" for name in systems) + "".join(f"{'http/' + name + ' p50':>18}" for name in engines_)
    print(f"{'question':32}{header}")
    for question, by_system in results["questions"].items():
        cells = "".join(f"{by_system[name]['p50_ms']:>11.1f} /{by_system[name]['p95_ms']:>8.1f}" for name in systems)
        ratios = "".join(f"{by_system['http_p50_over'][name]:>17.1f}x" for name in engines_)
        print(f"{question:32}{cells}{ratios}")
