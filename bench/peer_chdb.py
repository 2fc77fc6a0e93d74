"""chDB (ClickHouse in process) as a peer: the exported rows in MergeTree tables ordered by (outlet, time), and each
question in ClickHouse's SQL over the raw rows.

ClickHouse's time functions take a constant zone: one outlet's zone is a query parameter; over every outlet, each
outlet's local midnights and each row's local date are a multiIf over the zones the outlets have (read once, when
the peer starts), each branch with its zone as a constant.
"""

from pathlib import Path

from bench.peer_data import SORTED_BY, TABLES, Export, loaded_once

TYPES = {
    "id": "UUID", "outlet_id": "UUID", "agent_id": "UUID", "type": "LowCardinality(String)",
    "model": "LowCardinality(String)", "unit": "LowCardinality(String)", "end_user_id": "String",
    "count": "Decimal(20, 3)", "credits": "Decimal(20, 6)", "cost_usd": "Decimal(20, 8)",
    "latency_ms": "Nullable(Int32)", "occurred_at": "DateTime64(6, 'UTC')", "status": "LowCardinality(String)",
    "sentiment": "LowCardinality(String)", "duration_seconds": "Decimal(12, 3)", "message_count": "Int32",
    "started_at": "DateTime64(6, 'UTC')", "timezone": "String", "name": "String", "external_id": "String",
}

ONE_OUTLET = (
    "WHERE outlet_id = {{outlet:UUID}} AND {time} >= toDateTime64({{first:Date}}, 6, {{zone:String}}) "
    "AND {time} < toDateTime64({{last:Date}} + 1, 6, {{zone:String}})"
)
# Every outlet's rows over its own local dates: between its zone's first and last local midnights, found once an outlet.
EVERY_OUTLET = (
    "JOIN (SELECT id, timezone, {since} AS since, {until} AS until FROM outlets) AS outlets ON outlets.id = outlet_id "
    "WHERE occurred_at >= since AND occurred_at < until"
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

# As DuckDB's answer, the kept series then an `other` line per unit, each with a zero-filled point per period; but
# ranked first, then summed per line and period (some thousand groups), not per key and period first as DuckDB's:
# ClickHouse took 2.7 s for that at 11M records (a million (user, day) groups), 1.5 s for this.
BREAKDOWN = """
WITH ranked AS (
    SELECT {key} AS key, {unit} AS unit, row_number() OVER (ORDER BY sum({value}) DESC, key, unit) AS rank
    FROM usage {rows}
    GROUP BY key, unit {having}
),
lines AS (
    SELECT rank <= {{limit:UInt32}} AS kept, if(kept, key, '') AS line, unit, if(kept, rank, {{limit:UInt32}} + 1) AS place,
           count() AS merged
    FROM ranked GROUP BY kept, line, unit, place
),
sums AS (
    SELECT rank <= {{limit:UInt32}} AS kept, if(kept, ranked.key, '') AS line, ranked.unit AS unit, {period} AS period,
           sum({value}) AS value
    FROM usage {rows_of_ranked}
    GROUP BY kept, line, unit, period
)
SELECT kept, line, unit, merged, period, value, sum(value) OVER (PARTITION BY kept, line, unit)
FROM lines CROSS JOIN ({periods}) AS periods LEFT JOIN sums USING (kept, line, unit, period)
ORDER BY place, unit, period
"""


def breakdown(*, rows: str, key: str, unit: str, **parts) -> str:
    """BREAKDOWN over `rows` (a join and a WHERE clause), the second pass joined to the ranked keys."""
    ranked = f"JOIN ranked ON ranked.key = {key} AND ranked.unit = {unit} WHERE"
    return BREAKDOWN.format(rows=rows, rows_of_ranked=rows.replace("WHERE", ranked, 1), key=key, unit=unit, **parts)


SUMMARY_BY_AGENT = """
WITH totals AS (
    SELECT agent_id, count() AS records,
           sumIf(count, unit = 'tokens') AS tokens, sumIf(count, unit = 'characters') AS characters,
           sumIf(count, unit = 'seconds') AS seconds, sumIf(count, unit = 'requests') AS requests,
           sum(credits) AS credits, sum(cost_usd) AS cost
    FROM usage {rows}
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


def in_zones(zones: list[str], column: str, template: str) -> str:
    """`template` with the zone `column` names as a constant: a multiIf over `zones`, the last one the else."""
    *firsts, last = zones
    branches = "".join(f"{column} = '{zone}', {template.format(zone=zone)}, " for zone in firsts)
    return f"multiIf({branches}{template.format(zone=last)})"


def every_outlet_sql(zones: list[str]) -> dict[str, str]:
    """The questions over every outlet, each row's local date taken in its outlet's zone."""
    local_day = in_zones(zones, "outlets.timezone", "toDate(occurred_at, '{zone}')")
    rows = EVERY_OUTLET.format(
        since=in_zones(zones, "timezone", "toDateTime64({{first:Date}}, 6, '{zone}')"),
        until=in_zones(zones, "timezone", "toDateTime64({{last:Date}} + 1, 6, '{zone}')"),
    )
    return {
        "top users per day, every outlet": breakdown(
            periods=DAYS, key="end_user_id", unit="''", period=local_day, value="credits", rows=rows, having=""
        ),
        "summary by agent, every outlet": SUMMARY_BY_AGENT.format(rows=rows),
    }


ONE_OUTLET_SQL = {
    "series": SERIES, "models": MODELS, "spend": SPEND,
    "top users per day": breakdown(
        periods=DAYS, key="end_user_id", unit="''", period="toDate(occurred_at, {zone:String})", value="credits",
        rows=ONE_OUTLET.format(time="occurred_at"), having="",
    ),
    # A unit's series exists where it has units.
    "hourly by type": breakdown(
        periods=HOURS, key="type", unit="usage.unit", period=hour_start("occurred_at"), value="count",
        rows=ONE_OUTLET.format(time="occurred_at"), having="HAVING sum(count) <> 0",
    ),
}


class ChdbPeer:
    name = "chdb"

    def __init__(self, export: Export):
        import chdb
        from chdb import session

        self.path = export.folder / "chdb"
        self.session = session.Session(str(self.path))
        self.load = loaded_once(export, export.folder / "chdb.json", lambda: self._load(export))
        zones = [row[0] for row in self._rows("SELECT DISTINCT timezone FROM outlets ORDER BY timezone", {})]
        self.sql = {**ONE_OUTLET_SQL, **every_outlet_sql(zones)}
        self.version = chdb.__version__

    def _load(self, export: Export) -> None:
        for table, (_, columns) in TABLES.items():
            self.session.query(f"DROP TABLE IF EXISTS {table}")
            types = ", ".join(f"{column} {TYPES[column]}" for column in columns)
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
