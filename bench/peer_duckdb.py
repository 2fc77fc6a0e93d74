"""DuckDB as a peer: the exported rows in a DuckDB file, sorted by (outlet, time), and each question in its SQL.

Every answer is computed from the raw rows at each ask; the small tables are outlets (with their zones) and agents.
Local days and hours come from the ICU extension the Python wheel bundles: `timezone(zone, instant)` is the local
wall-clock time, `timezone(zone, local)` the instant back, with the zone a constant or an outlet's column.
"""

import duckdb

from bench.peer_data import SORTED_BY, TABLES, Export, loaded_once

TYPES = {
    "id": "UUID", "outlet_id": "UUID", "agent_id": "UUID", "type": "VARCHAR", "model": "VARCHAR", "unit": "VARCHAR",
    "end_user_id": "VARCHAR", "count": "DECIMAL(20, 3)", "credits": "DECIMAL(20, 6)", "cost_usd": "DECIMAL(20, 8)",
    "latency_ms": "INTEGER", "occurred_at": "TIMESTAMPTZ", "status": "VARCHAR", "sentiment": "VARCHAR",
    "duration_seconds": "DECIMAL(12, 3)", "message_count": "INTEGER", "started_at": "TIMESTAMPTZ",
    "timezone": "VARCHAR", "name": "VARCHAR", "external_id": "VARCHAR",
}
MACROS = (
    "CREATE OR REPLACE TEMP MACRO local_day(moment, zone) AS timezone(zone, moment)::DATE",
    # A local date's first instant in the zone.
    "CREATE OR REPLACE TEMP MACRO day_start(day, zone) AS timezone(zone, day::TIMESTAMP)",
    # The instant the local hour holding `moment` began: the moment less the local minutes past the hour.
    "CREATE OR REPLACE TEMP MACRO hour_start(moment, zone) AS "
    "moment - (timezone(zone, moment) - date_trunc('hour', timezone(zone, moment)))",
)

# One outlet's rows over its local dates $first..$last; every outlet's, each over its own local dates: between its
# zone's first and last local midnights, found once an outlet, so that no row is put in its zone to be filtered.
ONE_OUTLET = "WHERE outlet_id = $outlet AND {time} >= day_start($first, $zone) AND {time} < day_start($last + 1, $zone)"
EVERY_OUTLET = (
    "JOIN (SELECT id, timezone, day_start($first, timezone) AS since, day_start($last + 1, timezone) AS until "
    "FROM outlets) AS outlets ON outlets.id = outlet_id WHERE {time} >= since AND {time} < until"
)
DAYS = "SELECT day::DATE AS period FROM generate_series($first::DATE, $last::DATE, INTERVAL 1 DAY) AS days(day)"
# Every local hour, as the instant it began: those of a moment every 15 minutes (every offset is a multiple of it).
HOURS = (
    "SELECT DISTINCT hour_start(moment, $zone) AS period FROM generate_series(day_start($first, $zone), "
    "day_start($last + 1, $zone) - INTERVAL 1 MICROSECOND, INTERVAL 15 MINUTE) AS moments(moment)"
)

SERIES = f"""
WITH days AS ({DAYS}),
tokens AS (
    SELECT local_day(occurred_at, $zone) AS period, sum(count) AS tokens
    FROM usage {ONE_OUTLET.format(time="occurred_at")} AND unit = 'tokens'
    GROUP BY period
),
calls AS (
    SELECT local_day(started_at, $zone) AS period, count(*) AS conversations, sum(message_count) AS messages
    FROM interactions {ONE_OUTLET.format(time="started_at")}
    GROUP BY period
)
SELECT period, coalesce(tokens, 0), coalesce(conversations, 0), coalesce(messages, 0)
FROM days LEFT JOIN tokens USING (period) LEFT JOIN calls USING (period)
ORDER BY period
"""

# quantile_disc: the nearest rank (the ceil(q * n)-th value), as Ledgerline's histogram counts it.
MODELS = f"""
SELECT type, model, unit, count(*) AS calls, sum(count), sum(credits), sum(cost_usd) AS cost, avg(latency_ms),
       quantile_disc(latency_ms, [0.5, 0.95, 0.99])
FROM usage {ONE_OUTLET.format(time="occurred_at")}
GROUP BY type, model, unit
ORDER BY cost DESC, type, model, unit
"""

# Calls and spend in one pass over each table: per day, per agent, per status, per sentiment and in all, with the
# duration histogram (the drop-off) and telephony's seconds and cost.
SPEND = f"""
WITH rows AS (
    SELECT agent_id, local_day(started_at, $zone) AS day, status, sentiment, duration_seconds, 1 AS call
    FROM interactions {ONE_OUTLET.format(time="started_at")}
    UNION ALL BY NAME
    SELECT agent_id, local_day(occurred_at, $zone) AS day, type, unit, count, cost_usd
    FROM usage {ONE_OUTLET.format(time="occurred_at")}
)
SELECT grouping(day, agent_id, status, sentiment) AS part, day, agent_id, status, sentiment,
       count(call) AS calls, coalesce(sum(duration_seconds), 0) AS duration, coalesce(sum(cost_usd), 0) AS cost,
       count(*) FILTER (duration_seconds < 30), count(*) FILTER (duration_seconds >= 30 AND duration_seconds < 60),
       count(*) FILTER (duration_seconds >= 60 AND duration_seconds < 180),
       count(*) FILTER (duration_seconds >= 180 AND duration_seconds < 300), count(*) FILTER (duration_seconds >= 300),
       coalesce(sum(count) FILTER (type = 'TELEPHONY' AND unit = 'seconds'), 0),
       coalesce(sum(cost_usd) FILTER (type = 'TELEPHONY'), 0)
FROM rows
GROUP BY GROUPING SETS ((day), (agent_id), (status), (sentiment), ())
ORDER BY part, calls DESC, cost DESC, agent_id::VARCHAR
"""

# A series per key (and unit), the largest `$limit` totals kept (ties by key, then unit), the others added up as one
# `other` line per unit; every line with a point per period, zero-filled, and its total.
BREAKDOWN = """
WITH periods AS ({periods}),
points AS (
    SELECT {key} AS key, {unit} AS unit, {period} AS period, sum({value}) AS value
    FROM usage {rows}
    GROUP BY ALL
),
ranked AS (
    SELECT key, unit, row_number() OVER (ORDER BY sum(value) DESC, key, unit) AS rank
    FROM points GROUP BY key, unit {having}
),
lines AS (
    SELECT rank <= $limit AS kept, if(rank <= $limit, key, '') AS line, unit, if(rank <= $limit, rank, $limit + 1) AS place,
           count(*) AS merged
    FROM ranked GROUP BY ALL
),
sums AS (
    SELECT rank <= $limit AS kept, if(rank <= $limit, key, '') AS line, unit, period, sum(value) AS value
    FROM points JOIN ranked USING (key, unit) GROUP BY ALL
)
SELECT kept, line, unit, merged, periods.period, coalesce(value, 0),
       coalesce(sum(value) OVER (PARTITION BY kept, line, unit), 0)
FROM lines CROSS JOIN periods LEFT JOIN sums USING (kept, line, unit, period)
ORDER BY place, unit, periods.period
"""

USERS_DAILY = BREAKDOWN.format(
    periods=DAYS, key="end_user_id", unit="''", period="local_day(occurred_at, $zone)", value="credits",
    rows=ONE_OUTLET.format(time="occurred_at"), having="",
)
EVERY_USERS_DAILY = BREAKDOWN.format(
    periods=DAYS, key="end_user_id", unit="''", period="local_day(occurred_at, outlets.timezone)", value="credits",
    rows=EVERY_OUTLET.format(time="occurred_at"), having="",
)
# A unit's series exists where it has units.
TYPES_HOURLY = BREAKDOWN.format(
    periods=HOURS, key="type", unit="unit", period="hour_start(occurred_at, $zone)", value="count",
    rows=ONE_OUTLET.format(time="occurred_at"), having="HAVING sum(value) <> 0",
)

SUMMARY_BY_AGENT = f"""
WITH totals AS (
    SELECT agent_id, count(*) AS records,
           sum(count) FILTER (unit = 'tokens') AS tokens, sum(count) FILTER (unit = 'characters') AS characters,
           sum(count) FILTER (unit = 'seconds') AS seconds, sum(count) FILTER (unit = 'requests') AS requests,
           sum(credits) AS credits, sum(cost_usd) AS cost
    FROM usage {EVERY_OUTLET.format(time="occurred_at")}
    GROUP BY agent_id
)
SELECT agents.outlet_id, agent_id, agents.name, agents.external_id, records, tokens, characters, seconds, requests,
       credits, cost
FROM totals JOIN agents ON agents.id = agent_id
ORDER BY credits DESC, agent_id::VARCHAR
"""

SQL = {
    "series": SERIES, "models": MODELS, "spend": SPEND, "top users per day": USERS_DAILY,
    "top users per day, every outlet": EVERY_USERS_DAILY, "hourly by type": TYPES_HOURLY,
    "summary by agent, every outlet": SUMMARY_BY_AGENT,
}


class DuckDBPeer:
    name = "duckdb"

    def __init__(self, export: Export):
        self.path = export.folder / "duckdb.db"
        self.load = loaded_once(export, export.folder / "duckdb.json", lambda: self._load(export))
        self.connection = duckdb.connect(str(self.path), read_only=True)
        self.connection.execute("SET TimeZone = 'UTC'")
        for macro in MACROS:
            self.connection.execute(macro)
        self.version = duckdb.__version__

    def _load(self, export: Export) -> None:
        self.path.unlink(missing_ok=True)
        with duckdb.connect(str(self.path)) as connection:
            connection.execute("SET TimeZone = 'UTC'")
            for table, (_, columns) in TABLES.items():
                types = ", ".join(f"'{column}': '{TYPES[column]}'" for column in columns)
                order = f"ORDER BY {', '.join(SORTED_BY[table])}" if table in SORTED_BY else ""
                connection.execute(
                    f"CREATE TABLE {table} AS SELECT * FROM read_csv(?, header = false, columns = {{{types}}}) {order}",
                    [str(export.file(table))],
                )

    def ask(self, question: str, parameters: dict) -> list[tuple]:
        sql = SQL[question]
        named = {name: value for name, value in parameters.items() if f"${name}" in sql}  # DuckDB refuses any other
        return self.connection.execute(sql, named).fetchall()
