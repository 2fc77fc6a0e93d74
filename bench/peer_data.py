"""The bench database's rows for the peers: exported once with COPY to CSV, reused while the tables are unchanged.

Only what the questions read: usage records and interactions (times as UTC without a zone, so every engine reads
them as UTC), outlets with their zones, agents with their names. An export is reused while each table's row count
and newest id are those it was taken at; an engine's copy of it is reloaded when the export is not the one it was
loaded from.
"""

import json
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

# table: its PostgreSQL table and the columns the questions read, in the order each engine loads them (each engine
# has a type for each column name)
TABLES = {
    "usage": (
        "usage_usagerecord",
        ("outlet_id", "agent_id", "type", "model", "unit", "end_user_id", "count", "credits", "cost_usd", "latency_ms",
         "occurred_at"),
    ),
    "interactions": (
        "usage_interaction",
        ("outlet_id", "agent_id", "status", "sentiment", "duration_seconds", "message_count", "started_at"),
    ),
    "outlets": ("credits_outlet", ("id", "timezone")),
    "agents": ("credits_agent", ("id", "name", "external_id", "outlet_id")),
}
TIMES = frozenset({"occurred_at", "started_at"})
# Loaded sorted by these, as the raw table's (outlet, time) index holds them.
SORTED_BY = {"usage": ("outlet_id", "occurred_at"), "interactions": ("outlet_id", "started_at")}


def utc(column: str) -> str:
    """A column as exported: a time as UTC wall-clock time, without a zone."""
    return f"{column} AT TIME ZONE 'UTC' AS {column}" if column in TIMES else column


def stamp(url: str) -> dict:
    """Each table's row count and newest id: what an export is valid for."""
    with psycopg.connect(url) as conn:
        counts = {table: conn.execute(f"SELECT count(*) FROM {source}").fetchone()[0] for table, (source, _) in TABLES.items()}
        newest = {
            table: conn.execute(f"SELECT id FROM {source} ORDER BY id DESC LIMIT 1").fetchone()
            for table, (source, _) in TABLES.items()
        }
    return {table: [counts[table], str(newest[table][0]) if newest[table] else None] for table in TABLES}


class Export:
    """The CSV files of one database's tables, in `folder`, and what they were taken from."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.manifest = folder / "export.json"

    def file(self, table: str) -> Path:
        return self.folder / f"{table}.csv"

    def read(self) -> dict:
        return json.loads(self.manifest.read_text()) if self.manifest.exists() else {}

    def refresh(self, url: str) -> dict:
        """The export, taken again unless the one in the folder is of the tables as they are: its manifest, with
        `exported_s` (the COPY's seconds, when it was taken) and `reused`."""
        current = stamp(url)
        manifest = self.read()
        if manifest.get("stamp") == current:
            return {**manifest, "reused": True}
        self.folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with psycopg.connect(url) as conn:
            for table, (source, columns) in TABLES.items():
                query = f"COPY (SELECT {', '.join(map(utc, columns))} FROM {source}) TO STDOUT (FORMAT csv)"
                with self.file(table).open("wb") as out, conn.cursor().copy(query) as copy:
                    for chunk in copy:
                        out.write(chunk)
        manifest = {"stamp": current, "exported_s": round(time.perf_counter() - started, 1)}
        self.manifest.write_text(json.dumps(manifest))
        return {**manifest, "reused": False}


def loaded_once(export: Export, marker: Path, load: Callable[[], None], loaded_as: str = "") -> dict:
    """Runs `load` unless `marker` says it loaded this export already, `loaded_as` (what the engine's tables are:
    a change of types or order reloads them): the load's seconds, and whether reused."""
    wanted = {"stamp": export.read()["stamp"], "loaded_as": loaded_as}
    if marker.exists():
        done = json.loads(marker.read_text())
        if done["stamp"] == wanted["stamp"] and done.get("loaded_as", "") == loaded_as:
            return {"loaded_s": done["loaded_s"], "reused": True}
    started = time.perf_counter()
    load()
    loaded_s = round(time.perf_counter() - started, 1)
    marker.write_text(json.dumps({**wanted, "loaded_s": loaded_s}))
    return {"loaded_s": loaded_s, "reused": False}
