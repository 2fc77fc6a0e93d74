"""DuckDB as a peer: the exported rows in a DuckDB file, sorted by (outlet, time), and each question in its SQL.

Every answer is computed from the raw rows at each ask; the small tables are outlets (with their zones) and agents.
A row's local time is its UTC time plus its zone's offset at that instant, found by joining `zone_offsets`: each
zone's time cut where its offset changes, made from Python's zoneinfo (as Ledgerline's) when the peer starts. That is
integer arithmetic, where ICU's `timezone(zone, instant)` costs some 150 ns a row; ICU still finds the few instants
a question names (each outlet's first and last local midnights).
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb

from bench.peer_data import SORTED_BY, TABLES, Export, loaded_once

# A record's amounts in 18 digits, DuckDB's 64-bit decimals (PostgreSQL's numeric(20, x) would be 128-bit ones, which
# add up several times slower): the largest record is far below 10^12 credits; their sums are DECIMAL(38, x).
TYPES = {
    "id": "UUID", "outlet_id": "UUID", "agent_id": "UUID", "type": "VARCHAR", "model": "VARCHAR", "unit": "VARCHAR",
    "end_user_id": "VARCHAR", "count": "DECIMAL(18, 3)", "credits": "DECIMAL(18, 6)", "cost_usd": "DECIMAL(18, 8)",
    "latency_ms": "INTEGER", "occurred_at": "TIMESTAMPTZ", "status": "VARCHAR", "sentiment": "VARCHAR",
    "duration_seconds": "DECIMAL(12, 3)", "message_count": "INTEGER", "started_at": "TIMESTAMPTZ",
    "timezone": "VARCHAR", "name": "VARCHAR", "external_id": "VARCHAR",
}
MACROS = (
    # A local date's first instant in the zone (ICU: for the few instants a question names).
    "CREATE OR REPLACE TEMP MACRO day_start(day, zone) AS timezone(zone, day::TIMESTAMP)",
    # The local date of `moment`, its zone `offset_s` seconds ahead of UTC.
    "CREATE OR REPLACE TEMP MACRO local_day(moment, offset_s) AS "
    "DATE '1970-01-01' + ((epoch_us(moment) // 1000000 + offset_s) // 86400)::INTEGER",
    # The instant the local hour holding `moment` began, in seconds since the epoch.
    "CREATE OR REPLACE TEMP MACRO hour_start(moment, offset_s) AS "
    "(epoch_us(moment) // 1000000 + offset_s) // 3600 * 3600 - offset_s",
)

# One outlet's rows over its local dates $first..$last; every outlet's, each over its own local dates: between its
# zone's first and last local midnights, found once an outlet, so that no row is put in its zone to be filtered.
ONE_OUTLET = "WHERE outlet_id = $outlet AND {time} >= day_start($first, $zone) AND {time} < day_start($last + 1, $zone)"
EVERY_OUTLET = (
    "JOIN (SELECT id, day_start($first, timezone) AS since, day_start($last + 1, timezone) AS until FROM outlets) "
    "AS outlets ON outlets.id = outlet_id WHERE {time} >= since AND {time} < until"
)
# The same rows, each with its zone's offset at its instant (`offset_s`): each outlet's range cut where its zone's
# offset changes, a row joined to the piece holding it.
PIECES = """
JOIN (
    SELECT outlets.id, greatest(offsets.since, outlets.since) AS since, least(offsets.until, outlets.until) AS until,
           offset_s
    FROM (SELECT id, timezone, day_start($first, timezone) AS since, day_start($last + 1, timezone) AS until
          FROM outlets WHERE {outlets}) AS outlets
    JOIN zone_offsets AS offsets
      ON offsets.zone = outlets.timezone AND offsets.since < outlets.until AND offsets.until > outlets.since
) AS pieces ON pieces.id = outlet_id
WHERE {{time}} >= pieces.since AND {{time}} < pieces.until"""
ONE_OUTLET_LOCAL = PIECES.format(outlets="id = $outlet") + " AND outlet_id = $outlet"
EVERY_OUTLET_LOCAL = PIECES.format(outlets="true")

DAYS = "SELECT day::DATE AS period FROM generate_series($first::DATE, $last::DATE, INTERVAL 1 DAY) AS days(day)"
# Every local hour, as the instant it began: those of a moment every 15 minutes (every offset is a multiple of it).
HOURS = f"""
SELECT DISTINCT hour_start(moment, offset_s) AS period
FROM (SELECT unnest(generate_series(day_start($first, $zone), day_start($last + 1, $zone), INTERVAL 15 MINUTE)) AS moment,
             $outlet::UUID AS outlet_id) AS moments
{ONE_OUTLET_LOCAL.format(time="moment")}
"""

SERIES = f"""
WITH days AS ({DAYS}),
tokens AS (
    SELECT local_day(occurred_at, offset_s) AS period, sum(count) AS tokens
    FROM usage {ONE_OUTLET_LOCAL.format(time="occurred_at")} AND unit = 'tokens'
    GROUP BY period
),
calls AS (
    SELECT local_day(started_at, offset_s) AS period, count(*) AS conversations, sum(message_count) AS messages
    FROM interactions {ONE_OUTLET_LOCAL.format(time="started_at")}
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

# Calls per day, per agent, per status, per sentiment and in all, with the duration histogram (the drop-off); spend per
# day, per agent and in all, with telephony's seconds and cost. Each table is grouped on its own (grouping both tables'
# rows at once groups every usage row by status and by sentiment too: half as long again), then each part's rows of both
# are added up into one.
SPEND = f"""
WITH calls AS (
    SELECT grouping(day, agent_id, status, sentiment) AS part, day, agent_id, status, sentiment, count(*) AS calls,
           sum(duration_seconds) AS duration,
           count(*) FILTER (duration_seconds < 30) AS under_30,
           count(*) FILTER (duration_seconds >= 30 AND duration_seconds < 60) AS under_60,
           count(*) FILTER (duration_seconds >= 60 AND duration_seconds < 180) AS under_180,
           count(*) FILTER (duration_seconds >= 180 AND duration_seconds < 300) AS under_300,
           count(*) FILTER (duration_seconds >= 300) AS over_300
    FROM (SELECT agent_id, local_day(started_at, offset_s) AS day, status, sentiment, duration_seconds
          FROM interactions {ONE_OUTLET_LOCAL.format(time="started_at")})
    GROUP BY GROUPING SETS ((day), (agent_id), (status), (sentiment), ())
),
spend AS (
    SELECT grouping(day, agent_id) << 2 | 3 AS part, day, agent_id, sum(cost_usd) AS cost,
           coalesce(sum(count) FILTER (type = 'TELEPHONY' AND unit = 'seconds'), 0) AS telephony_seconds,
           coalesce(sum(cost_usd) FILTER (type = 'TELEPHONY'), 0) AS telephony_cost
    FROM (SELECT agent_id, local_day(occurred_at, offset_s) AS day, type, unit, count, cost_usd
          FROM usage {ONE_OUTLET_LOCAL.format(time="occurred_at")})
    GROUP BY GROUPING SETS ((day), (agent_id), ())
)
SELECT part, day, agent_id, status, sentiment, coalesce(sum(calls), 0) AS calls, coalesce(sum(duration), 0),
       coalesce(sum(cost), 0) AS cost, sum(under_30), sum(under_60), sum(under_180), sum(under_300), sum(over_300),
       sum(telephony_seconds), sum(telephony_cost)
FROM (FROM calls UNION ALL BY NAME FROM spend)
GROUP BY part, day, agent_id, status, sentiment
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
    periods=DAYS, key="end_user_id", unit="''", period="local_day(occurred_at, offset_s)", value="credits",
    rows=ONE_OUTLET_LOCAL.format(time="occurred_at"), having="",
)
EVERY_USERS_DAILY = BREAKDOWN.format(
    periods=DAYS, key="end_user_id", unit="''", period="local_day(occurred_at, offset_s)", value="credits",
    rows=EVERY_OUTLET_LOCAL.format(time="occurred_at"), having="",
)
# A unit's series exists where it has units.
TYPES_HOURLY = BREAKDOWN.format(
    periods=HOURS, key="type", unit="unit", period="hour_start(occurred_at, offset_s)", value="count",
    rows=ONE_OUTLET_LOCAL.format(time="occurred_at"), having="HAVING sum(value) <> 0",
)

# Every outlet's rows over its own local dates, most of them without a join (a join for every row took a quarter
# longer): those from the latest first local midnight to the earliest last one ($core_since and $core_until, asked of
# CORE first: in every outlet's range) as they are, the others (a day or so at either end) each checked against its
# outlet's midnights.
CORE = "SELECT max(day_start($first, timezone)), min(day_start($last + 1, timezone)) FROM outlets"
EVERY_OUTLET_CORE = f"""(
    SELECT {{columns}} FROM usage WHERE occurred_at >= $core_since AND occurred_at < $core_until
    UNION ALL
    SELECT {{columns}} FROM usage {EVERY_OUTLET.format(time="occurred_at")}
    AND NOT (occurred_at >= $core_since AND occurred_at < $core_until)
)"""

# Per agent and unit (a few thousand groups, no filtered sums per row), then an agent's units side by side.
SUMMARY_BY_AGENT = f"""
WITH totals AS (
    SELECT agent_id, unit, count(*) AS records, sum(count) AS units, sum(credits) AS credits, sum(cost_usd) AS cost
    FROM {EVERY_OUTLET_CORE.format(columns="agent_id, unit, count, credits, cost_usd")}
    GROUP BY agent_id, unit
)
SELECT agents.outlet_id, agent_id, agents.name, agents.external_id, sum(records),
       sum(units) FILTER (unit = 'tokens'), sum(units) FILTER (unit = 'characters'),
       sum(units) FILTER (unit = 'seconds'), sum(units) FILTER (unit = 'requests'), sum(credits) AS credits, sum(cost)
FROM totals JOIN agents ON agents.id = agent_id
GROUP BY agents.outlet_id, agent_id, agents.name, agents.external_id
ORDER BY credits DESC, agent_id::VARCHAR
"""

SQL = {
    "series": SERIES, "models": MODELS, "spend": SPEND, "top users per day": USERS_DAILY,
    "top users per day, every outlet": EVERY_USERS_DAILY, "hourly by type": TYPES_HOURLY,
    "summary by agent, every outlet": SUMMARY_BY_AGENT,
}
LOADED_AS = "decimal(18) amounts"  # changed with TYPES or the sort order, so that the file is loaded again


def offset_pieces(zone: str, since: datetime, until: datetime) -> list[tuple[datetime, datetime, int]]:
    """[since, until) cut where `zone`'s UTC offset changes, each piece with its offset in seconds: a change found
    within a day, then to the second (no zone changes its offset twice a day)."""
    def offset(moment: datetime) -> int:
        return int(moment.astimezone(ZoneInfo(zone)).utcoffset().total_seconds())

    pieces, start, day = [], since, since
    while day < until:
        low, high = day, min(day + timedelta(days=1), until)
        if offset(high) != offset(low):
            while high - low > timedelta(seconds=1):
                middle = (low + (high - low) / 2).replace(microsecond=0)
                low, high = (middle, high) if offset(middle) == offset(low) else (low, middle)
            pieces.append((start, high, offset(start)))
            start = high
        day = high
    pieces.append((start, until, offset(start)))
    return pieces


class DuckDBPeer:
    name = "duckdb"

    def __init__(self, export: Export):
        self.path = export.folder / "duckdb.db"
        self.load = loaded_once(export, export.folder / "duckdb.json", lambda: self._load(export), LOADED_AS)
        self.connection = duckdb.connect(str(self.path), read_only=True)
        self.connection.execute("SET TimeZone = 'UTC'")
        for macro in MACROS:
            self.connection.execute(macro)
        self._zone_offsets()
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

    def _zone_offsets(self) -> None:
        """`zone_offsets`: each outlet zone's time cut where its offset changes, from the year before the rows' first
        to the year after today's (or the rows' last)."""
        first, last = self.connection.execute("SELECT min(occurred_at), max(occurred_at) FROM usage").fetchone()
        since = datetime(first.year - 1, 1, 1, tzinfo=UTC)
        until = datetime(max(last.year, datetime.now(UTC).year) + 2, 1, 1, tzinfo=UTC)
        zones = [zone for (zone,) in self.connection.execute("SELECT DISTINCT timezone FROM outlets").fetchall()]
        self.connection.execute(
            "CREATE TEMP TABLE zone_offsets (zone VARCHAR, since TIMESTAMPTZ, until TIMESTAMPTZ, offset_s INTEGER)"
        )
        self.connection.executemany(
            "INSERT INTO zone_offsets VALUES (?, ?, ?, ?)",
            [(zone, *piece) for zone in zones for piece in offset_pieces(zone, since, until)],
        )

    def ask(self, question: str, parameters: dict) -> list[tuple]:
        sql = SQL[question]
        if "$core_since" in sql:
            core = self.connection.execute(CORE, {"first": parameters["first"], "last": parameters["last"]}).fetchone()
            parameters = {**parameters, "core_since": core[0], "core_until": core[1]}
        named = {name: value for name, value in parameters.items() if f"${name}" in sql}  # DuckDB refuses any other
        return self.connection.execute(sql, named).fetchall()
