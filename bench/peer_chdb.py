"""chDB (ClickHouse in process) as a peer: the exported rows in MergeTree tables ordered by (outlet, time), and each
question in ClickHouse's SQL over the raw rows.

ClickHouse's time functions take a constant zone: one outlet's zone is a query parameter; every outlet's rows are
read a zone at a time (the zones the outlets have, read once when the peer starts), each zone's outlets between its
own local midnights, with the zone a constant.
"""

from pathlib import Path

from bench.peer_data import SORTED_BY, TABLES, Export, loaded_once

# A record's amounts in 18 digits, 64-bit decimals (as DuckDB's); every column stored uncompressed: undoing LZ4 was
# most of a scan's time here, and the tables fit in memory many times over.
TYPES = {
    "id": "UUID", "outlet_id": "UUID", "agent_id": "UUID", "type": "LowCardinality(String)",
    "model": "LowCardinality(String)", "unit": "LowCardinality(String)", "end_user_id": "String",
    "count": "Decimal(18, 3)", "credits": "Decimal(18, 6)", "cost_usd": "Decimal(18, 8)",
    "latency_ms": "Nullable(Int32)", "occurred_at": "DateTime64(6, 'UTC')", "status": "LowCardinality(String)",
    "sentiment": "LowCardinality(String)", "duration_seconds": "Decimal(12, 3)", "message_count": "Int32",
    "started_at": "DateTime64(6, 'UTC')", "timezone": "String", "name": "String", "external_id": "String",
}
LOADED_AS = "decimal(18) amounts, uncompressed"  # changed with TYPES, the codecs or the order: the tables loaded again

ONE_OUTLET = (
    "WHERE outlet_id = {{outlet:UUID}} AND {time} >= toDateTime64({{first:Date}}, 6, {{zone:String}}) "
    "AND {time} < toDateTime64({{last:Date}} + 1, 6, {{zone:String}})"
)
DAYS = "SELECT {first:Date} + number AS period FROM numbers(dateDiff('day', {first:Date}, {last:Date}) + 1)"


def hour_start(moment: str) -> str:
    """The instant the local hour holding `moment` began: the moment less the local minutes and seconds past the hour
    (toStartOfHour merges the hour DST repeats, and misplaces the one a 30-minute shift begins)."""
    return f"toDateTime({moment}, 'UTC') - (toMinute({moment}, {{zone:String}}) * 60 + toSecond({moment}, {{zone:String}}))"


# Every local hour: those of a moment every 15 minutes (every offset is a multiple of it).
HOURS = (
    f"SELECT DISTINCT {hour_start('moment')} AS period FROM (SELECT toDateTime64({{first:Date}}, 6, {{zone:String}}) "
    "+ toIntervalMinute(15 * number) AS moment FROM numbers(intDiv(dateDiff('minute', "
    "toDateTime64({first:Date}, 6, {zone:String}), toDateTime64({last:Date} + 1, 6, {zone:String})), 15)))"
)

SERIES = f"""
WITH tokens AS (
    SELECT toDate(occurred_at, {{zone:String}}) AS period, sum(count) AS tokens
    FROM usage {ONE_OUTLET.format(time="occurred_at")} AND unit = 'tokens'
    GROUP BY period
),
calls AS (
    SELECT toDate(started_at, {{zone:String}}) AS period, count() AS conversations, sum(message_count) AS messages
    FROM interactions {ONE_OUTLET.format(time="started_at")}
    GROUP BY period
)
SELECT period, tokens, conversations, messages
FROM ({DAYS}) AS days LEFT JOIN tokens USING (period) LEFT JOIN calls USING (period)
ORDER BY period
"""

# quantilesExactLow: the nearest rank, as Ledgerline's histogram counts it, but one rank later where q * n is whole
# (its float arithmetic); the check needs a percentile only inside the bucket Ledgerline names.
MODELS = f"""
SELECT type, model, unit, count() AS calls, sum(count), sum(credits), sum(cost_usd) AS cost, avg(latency_ms),
       quantilesExactLow(0.5, 0.95, 0.99)(latency_ms)
FROM usage {ONE_OUTLET.format(time="occurred_at")}
GROUP BY type, model, unit
ORDER BY cost DESC, type, model, unit
"""

SPEND = f"""
SELECT grouping(day, agent_id, status, sentiment) AS part, day, agent_id, status, sentiment,
       countIf(call = 1) AS calls, sum(duration_seconds) AS duration, sum(cost_usd) AS cost,
       countIf(call = 1 AND duration_seconds < 30),  -- a usage row's duration is 0, not NULL
       countIf(duration_seconds >= 30 AND duration_seconds < 60),
       countIf(duration_seconds >= 60 AND duration_seconds < 180),
       countIf(duration_seconds >= 180 AND duration_seconds < 300), countIf(duration_seconds >= 300),
       sumIf(count, type = 'TELEPHONY' AND unit = 'seconds'), sumIf(cost_usd, type = 'TELEPHONY')
FROM (
    SELECT agent_id, toDate(started_at, {{zone:String}}) AS day, status, sentiment, duration_seconds, 1 AS call,
           '' AS type, '' AS unit, toDecimal128(0, 3) AS count, toDecimal128(0, 8) AS cost_usd
    FROM interactions {ONE_OUTLET.format(time="started_at")}
    UNION ALL
    SELECT agent_id, toDate(occurred_at, {{zone:String}}), '', '', toDecimal64(0, 3), 0, type, unit, count, cost_usd
    FROM usage {ONE_OUTLET.format(time="occurred_at")}
)
GROUP BY GROUPING SETS ((day), (agent_id), (status), (sentiment), ())
ORDER BY part, calls DESC, cost DESC, toString(agent_id)
"""

# As DuckDB's answer: the kept series then an `other` line per unit, each with a zero-filled point per period, from
# `rows` (key, unit, period, value), ranked by total (once: MATERIALIZED, for its two readers). One outlet's keys are summed per
# period first, as DuckDB's, then ranked from those points (40 ms, not 55, for the hours by type). Every outlet's are
# ranked from the rows, then each row summed per line and period, its line its key where kept (its users' lines have
# no unit), else the other one: a few thousand groups, where summing per key and period makes a million (a fifth to a
# third slower). A key left unranked (its units add up to nothing) adds nothing to the other line.
LINES_AND_POINTS = """
lines AS (
    SELECT rank <= {{limit:UInt32}} AS kept, if(kept, key, '') AS line, unit, if(kept, rank, {{limit:UInt32}} + 1) AS place,
           count() AS merged
    FROM ranked GROUP BY kept, line, unit, place
)
SELECT kept, line, unit, merged, period, value, sum(value) OVER (PARTITION BY kept, line, unit)
FROM lines CROSS JOIN ({periods}) AS periods LEFT JOIN sums USING (kept, line, unit, period)
ORDER BY place, unit, period
"""
SUMMED_FIRST = """
WITH points AS MATERIALIZED (SELECT key, unit, period, sum(value) AS value FROM ({rows}) GROUP BY key, unit, period),
ranked AS MATERIALIZED (
    SELECT key, unit, row_number() OVER (ORDER BY sum(value) DESC, key, unit) AS rank
    FROM points GROUP BY key, unit {having}
),
sums AS (
    SELECT rank <= {{limit:UInt32}} AS kept, if(kept, key, '') AS line, unit, period, sum(value) AS value
    FROM points JOIN ranked USING (key, unit) GROUP BY kept, line, unit, period
),""" + LINES_AND_POINTS
RANKED_FIRST = """
WITH rows AS ({rows}),
ranked AS MATERIALIZED (
    SELECT key, unit, row_number() OVER (ORDER BY sum(value) DESC, key, unit) AS rank
    FROM rows GROUP BY key, unit {having}
),
sums AS (
    SELECT key IN (SELECT key FROM ranked WHERE rank <= {{limit:UInt32}}) AS kept, if(kept, key, '') AS line,
           unit, period, sum(value) AS value
    FROM rows GROUP BY kept, line, unit, period
),""" + LINES_AND_POINTS
ONE_OUTLET_ROWS = f"SELECT {{key}} AS key, {{unit}} AS unit, {{period}} AS period, {{value}} AS value FROM usage {ONE_OUTLET}"

SUMMARY_BY_AGENT = """
WITH totals AS (
    SELECT agent_id, count() AS records,
           sumIf(count, unit = 'tokens') AS tokens, sumIf(count, unit = 'characters') AS characters,
           sumIf(count, unit = 'seconds') AS seconds, sumIf(count, unit = 'requests') AS requests,
           sum(credits) AS credits, sum(cost_usd) AS cost
    FROM ({rows})
    GROUP BY agent_id
)
SELECT agents.outlet_id, agent_id, agents.name, agents.external_id, records, tokens, characters, seconds, requests,
       credits, cost
FROM totals JOIN agents ON agents.id = totals.agent_id
ORDER BY credits DESC, toString(agent_id)
"""


def plain(kind: str) -> str:
    """A column's type as a file is read: without LowCardinality."""
    return kind.removeprefix("LowCardinality(").removesuffix(")") if kind.startswith("LowCardinality(") else kind


def every_outlet_rows(zones: list[str], columns: str) -> str:
    """`columns` (with `{zone}` for the zone as a constant) of every outlet's usage rows over its own local dates, a
    zone at a time: its outlets' rows between its first and last local midnights."""
    return " UNION ALL ".join(
        f"SELECT {columns.format(zone=zone)} FROM usage "
        f"WHERE outlet_id IN (SELECT id FROM outlets WHERE timezone = '{zone}') "
        f"AND occurred_at >= toDateTime64({{first:Date}}, 6, '{zone}') "
        f"AND occurred_at < toDateTime64({{last:Date}} + 1, 6, '{zone}')"
        for zone in zones
    )


def every_outlet_sql(zones: list[str]) -> dict[str, str]:
    """The questions over every outlet, each row's local date taken in its outlet's zone."""
    users = "end_user_id AS key, '' AS unit, toDate(occurred_at, '{zone}') AS period, credits AS value"
    return {
        "top users per day, every outlet": RANKED_FIRST.format(
            rows=every_outlet_rows(zones, users), periods=DAYS, having=""
        ),
        "summary by agent, every outlet": SUMMARY_BY_AGENT.format(
            rows=every_outlet_rows(zones, "agent_id, unit, count, credits, cost_usd")
        ),
    }


ONE_OUTLET_SQL = {
    "series": SERIES, "models": MODELS, "spend": SPEND,
    "top users per day": SUMMED_FIRST.format(
        rows=ONE_OUTLET_ROWS.format(
            key="end_user_id", unit="''", period="toDate(occurred_at, {zone:String})", value="credits",
            time="occurred_at",
        ),
        periods=DAYS, having="",
    ),
    # A unit's series exists where it has units.
    "hourly by type": SUMMED_FIRST.format(
        rows=ONE_OUTLET_ROWS.format(
            key="type", unit="unit", period=hour_start("occurred_at"), value="count", time="occurred_at"
        ),
        periods=HOURS, having="HAVING sum(value) <> 0",
    ),
}


class ChdbPeer:
    name = "chdb"

    def __init__(self, export: Export):
        import chdb
        from chdb import session

        self.path = export.folder / "chdb"
        self.session = session.Session(str(self.path))
        self.load = loaded_once(export, export.folder / "chdb.json", lambda: self._load(export), LOADED_AS)
        self.session.query("SET enable_materialized_cte = 1")  # a breakdown's ranking (or points), read twice, made once
        zones = [row[0] for row in self._rows("SELECT DISTINCT timezone FROM outlets ORDER BY timezone", {})]
        self.sql = {**ONE_OUTLET_SQL, **every_outlet_sql(zones)}
        self.version = chdb.__version__

    def _load(self, export: Export) -> None:
        for table, (_, columns) in TABLES.items():
            self.session.query(f"DROP TABLE IF EXISTS {table}")
            types = ", ".join(f"{column} {TYPES[column]} CODEC(NONE)" for column in columns)
            order = f"({', '.join(SORTED_BY[table])})" if table in SORTED_BY else "tuple()"
            self.session.query(f"CREATE TABLE {table} ({types}) ENGINE = MergeTree ORDER BY {order}")
            structure = ", ".join(f"{column} {plain(TYPES[column])}" for column in columns).replace("'", "\\'")
            source = f"file('{Path(export.file(table)).resolve()}', 'CSV', '{structure}')"
            self.session.query(f"INSERT INTO {table} SELECT * FROM {source}")
            self.session.query(f"OPTIMIZE TABLE {table} FINAL")

    def _rows(self, sql: str, parameters: dict) -> list[tuple]:
        table = self.session.query(sql, "ArrowTable", params={name: str(value) for name, value in parameters.items()})
        return list(zip(*(column.to_pylist() for column in table.columns)))

    def ask(self, question: str, parameters: dict) -> list[tuple]:
        sql = self.sql[question]
        return self._rows(sql, {name: value for name, value in parameters.items() if f"{{{name}:" in sql})
