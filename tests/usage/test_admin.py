import csv
import io
import re
from decimal import Decimal
from html import unescape
from itertools import count

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config.admin import EstimatedCountPaginator
from credits.services import Actor
from tests.conftest import ON_POSTGRES
from tests.factories import AgentFactory, OutletFactory
from usage import admin as usage_admin
from usage.admin import CSV_COLUMNS
from usage.models import Interaction, UsageRecord
from usage.services import ingest_records, upsert_interactions

ACTOR = Actor.system("tests")
event_ids = count(1)
RECORDS = reverse("admin:usage_usagerecord_changelist")
INTERACTIONS = reverse("admin:usage_interaction_changelist")


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def ingest(agent, *records: dict) -> list[UsageRecord]:
    """Stores records through the ingest service; each defaults to a CONVERSATION of 10 tokens."""
    defaults = {"type": "CONVERSATION", "unit": "tokens", "count": 10, "occurred_at": "2025-03-01T10:00:00Z",
                "credits": "0", "cost_usd": "0"}
    result = ingest_records(
        outlet=agent.outlet,
        records=[{"event_id": f"evt-{next(event_ids)}", "agent_id": str(agent.pk), **defaults, **r} for r in records],
        actor=ACTOR,
    )
    return list(UsageRecord.objects.filter(pk__in=result.ids).order_by("pk"))


def start_call(agent, interaction_id: str, **fields) -> Interaction:
    upsert_interactions(
        outlet=agent.outlet,
        interactions=[{"interaction_id": interaction_id, "agent_id": str(agent.pk),
                       "started_at": "2025-03-01T09:59:00Z", **fields}],
    )
    return Interaction.objects.get(outlet=agent.outlet, interaction_id=interaction_id)


def listed(response) -> list[str]:
    return sorted(str(row) for row in response.context["cl"].result_list)


def queries_matching(queries, text: str) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if text in query["sql"].upper()]


# Both changelists: bounded queries, view-only.


@pytest.mark.parametrize("changelist", [RECORDS, INTERACTIONS])
def test_changelist_renders_for_a_superuser_without_a_query_per_row(
    staff, changelist, django_assert_max_num_queries
):
    for n in range(4):
        agent = AgentFactory(outlet=OutletFactory())
        start_call(agent, f"call-{n}", channel="chat" if n % 2 else "voice")
        ingest(agent, {"interaction_id": f"call-{n}", "model": f"gpt-{n}"}, {"type": "TTS", "unit": "characters"})

    with django_assert_max_num_queries(9):  # 8, and on PostgreSQL the row estimate before the count
        response = staff.get(changelist)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == (8 if changelist == RECORDS else 4)


def test_the_type_model_and_product_filters_read_the_latest_records_in_one_query(staff, agent):
    ingest(agent, {"model": "gpt-4o", "product": "voice-agent"}, {"type": "TTS", "unit": "characters"})

    with CaptureQueriesContext(connection) as queries:
        page = staff.get(RECORDS)

    assert len(queries_matching(queries, "LIMIT 5000")) == 1
    assert "gpt-4o" in page.content.decode() and "voice-agent" in page.content.decode()


@pytest.mark.parametrize("changelist", [RECORDS, INTERACTIONS])
def test_changelist_counts_matching_rows_once_and_offers_no_facets(staff, agent, changelist):
    start_call(agent, "call-1")
    ingest(agent, {})

    with CaptureQueriesContext(connection) as queries:
        response = staff.get(changelist, {"_facets": "1"})

    assert isinstance(response.context["cl"].paginator, EstimatedCountPaginator)
    assert len(queries_matching(queries, "COUNT(")) == 1
    assert response.context["cl"].add_facets is False


@pytest.mark.parametrize("changelist", [RECORDS, INTERACTIONS])
def test_changelist_filters_and_dates_scan_for_no_distinct_values(staff, agent, changelist):
    start_call(agent, "call-1", channel="chat")
    ingest(agent, {"model": "gpt-4o"}, {"type": "TTS", "unit": "characters", "occurred_at": "2024-05-01T00:00:00Z"})

    with CaptureQueriesContext(connection) as queries:
        response = staff.get(changelist, {"outlet__id__exact": agent.outlet_id})

    assert response.status_code == 200 and response.context["cl"].has_filters
    assert queries_matching(queries, "DISTINCT") == []


def test_usage_records_cannot_be_added_changed_or_deleted_even_by_a_superuser(staff, agent):
    (record,) = ingest(agent, {"model": "gpt-4o", "credits": "1.5"})
    change_url = reverse("admin:usage_usagerecord_change", args=[record.pk])

    view = staff.get(change_url)
    add = staff.get(reverse("admin:usage_usagerecord_add"))
    change = staff.post(change_url, {"model": "edited", "credits": "99", "type": "TTS"})
    delete = staff.post(reverse("admin:usage_usagerecord_delete", args=[record.pk]), {"post": "yes"})
    staff.post(RECORDS, {"action": "delete_selected", "_selected_action": [record.pk], "index": 0, "post": "yes"})

    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert "delete_selected" not in staff.get(RECORDS).content.decode()
    assert UsageRecord.objects.get().model == "gpt-4o"
    assert UsageRecord.objects.get().credits == Decimal("1.5")


def test_interactions_are_view_only(staff, agent):
    interaction = start_call(agent, "call-1", status="in_progress")
    change_url = reverse("admin:usage_interaction_change", args=[interaction.pk])

    view = staff.get(change_url)
    change = staff.post(change_url, {"status": "failed", "channel": "chat"})
    delete = staff.post(reverse("admin:usage_interaction_delete", args=[interaction.pk]), {"post": "yes"})

    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert (change.status_code, delete.status_code) == (403, 403)
    assert staff.get(reverse("admin:usage_interaction_add")).status_code == 403
    assert "delete_selected" not in staff.get(INTERACTIONS).content.decode()
    interaction.refresh_from_db()
    assert (interaction.status, interaction.channel) == ("in_progress", "voice")


def test_usage_record_page_shows_every_field_and_meta_as_indented_json(staff, agent):
    interaction = start_call(agent, "call-1")
    (record,) = ingest(agent, {
        "interaction_id": "call-1", "provider": "openai", "voice": "alloy", "message_id": "msg-7",
        "meta": {"language": "en", "turn": 3},
    })

    page = staff.get(reverse("admin:usage_usagerecord_change", args=[record.pk]))

    content = unescape(page.content.decode())
    shown = {field for fieldset in page.context["adminform"] for line in fieldset for field in line}
    concrete = {field.name for field in UsageRecord._meta.concrete_fields} - {"id", "interaction_id", "meta"}
    shown_as = {  # an amount in full, a time in its zone
        "count": "count_in_full", "credits": "credits_in_full", "cost_usd": "cost_in_full", "latency_ms": "latency",
        "occurred_at": "occurred_at_in_zone", "created_at": "created_at_in_zone",
    }
    assert {shown_as.get(name, name) for name in concrete} <= {field.field["name"] for field in shown}
    assert '<pre>{\n  "language": "en",\n  "turn": 3\n}</pre>' in content
    assert "openai" in content and "alloy" in content and "msg-7" in content
    assert f'href="{reverse("admin:usage_interaction_change", args=[interaction.pk])}"' in content


# Search and filters.


@pytest.mark.parametrize("field", ["event_id", "interaction_id", "conversation_id", "message_id"])
def test_search_finds_a_record_by_the_exact_id(staff, agent, field):
    ids = {"interaction_id": "call-1", "conversation_id": "conv-1", "message_id": "msg-1"}
    (wanted,) = ingest(agent, ids)
    ingest(agent, {name: f"{value}0" for name, value in ids.items()}, {})
    term = {"event_id": wanted.event_id, **ids}[field]

    assert listed(staff.get(RECORDS, {"q": term})) == [wanted.event_id]
    assert listed(staff.get(RECORDS, {"q": term.upper()})) == []  # exact, so an index can serve it


def test_interaction_search_finds_by_interaction_or_end_user_id(staff, agent):
    start_call(agent, "call-1", end_user_id="user-1")
    start_call(agent, "call-10", end_user_id="user-10")

    assert listed(staff.get(INTERACTIONS, {"q": "call-1"})) == ["call-1"]
    assert listed(staff.get(INTERACTIONS, {"q": "user-10"})) == ["call-10"]


def test_usage_records_filter_by_outlet_agent_type_and_model(staff, agent):
    other_agent = AgentFactory(outlet=agent.outlet)
    elsewhere = AgentFactory()
    (tts,) = ingest(agent, {"type": "TTS", "unit": "characters", "model": "tts-1"})
    (llm,) = ingest(other_agent, {"model": "gpt-4o"})
    (foreign,) = ingest(elsewhere, {"model": "gpt-4o"})

    assert listed(staff.get(RECORDS, {"type": "TTS"})) == [tts.event_id]
    assert listed(staff.get(RECORDS, {"model": "gpt-4o"})) == sorted([llm.event_id, foreign.event_id])
    assert listed(staff.get(RECORDS, {"outlet__id__exact": agent.outlet_id})) == sorted([tts.event_id, llm.event_id])
    assert listed(staff.get(RECORDS, {"outlet__id__exact": agent.outlet_id, "agent__id__exact": other_agent.pk})) == [
        llm.event_id
    ]


def test_usage_records_list_time_agent_type_model_count_with_unit_credits_cost_and_latency(staff, agent):
    ingest(agent, {
        "model": "gpt-4o", "count": 12345, "credits": "1234.5", "cost_usd": "0.00012345", "latency_ms": 1250,
        "occurred_at": "2025-03-01T10:05:09Z",
    })

    response = staff.get(RECORDS)

    headers = [header["text"] for header in response.context["result_headers"]]
    assert headers[1:] == ["time", "agent", "type", "model", "count", "credits", "cost", "latency"]
    (row,) = response.context["results"]
    cells = [unescape(re.sub(r"<[^>]+>", "", cell)) for cell in row[1:]]
    assert cells == [
        "2025-03-01 10:05:09 UTC", agent.name, "CONVERSATION", "gpt-4o", "12,345 tokens", "1,234.50", "<$0.01", "1,250 ms"
    ]
    assert "ledgerline/admin_lists.css" in response.content.decode()  # narrow cells: no scrolling at 1440 px


def test_usage_records_search_says_what_it_searches(staff, agent):
    content = staff.get(RECORDS).content.decode()

    assert "An exact event, interaction, conversation or message id. For a model or a product, use the filters." in (
        unescape(content)
    )


def test_usage_records_filter_by_product(staff, agent):
    (voice,) = ingest(agent, {"product": "voice-agent"})
    ingest(agent, {"product": "chat-widget"}, {})

    response = staff.get(RECORDS, {"product": "voice-agent"})

    assert listed(response) == [voice.event_id]
    (spec,) = [spec for spec in response.context["cl"].filter_specs if spec.title == "product"]
    assert [choice["display"] for choice in spec.choices(response.context["cl"])][1:] == ["chat-widget", "voice-agent"]


@pytest.mark.parametrize("changelist, field", [(RECORDS, "occurred_at"), (INTERACTIONS, "started_at")])
def test_big_lists_filter_by_a_date_range(staff, agent, changelist, field):
    for day in (1, 2, 3):
        start_call(agent, f"call-{day}", started_at=f"2025-03-0{day}T12:00:00Z")
        ingest(agent, {"interaction_id": f"call-{day}", "occurred_at": f"2025-03-0{day}T12:00:00Z"})

    response = staff.get(changelist, {f"{field}__gte": "2025-03-02", f"{field}__lt": "2025-03-03", "q": "call-2"})

    rows = response.context["cl"].result_list
    assert [getattr(row, field).day for row in rows] == [2]
    content = response.content.decode()
    assert f'name="{field}__gte" value="2025-03-02"' in content and '<input type="hidden" name="q" value="call-2">' in content


@pytest.mark.parametrize("bounds, message", [
    ({"occurred_at__gte": "2025-13-45"}, "'2025-13-45' is not a date: write it as YYYY-MM-DD. Ignored it."),
    ({"occurred_at__gte": "2025-03-03", "occurred_at__lt": "2025-03-01"},
     "The range's start (2025-03-03) must be before its end (2025-03-01); showing all dates."),
])
def test_a_bad_date_range_is_a_message_not_an_error(staff, agent, bounds, message):
    ingest(agent, {})

    response = staff.get(RECORDS, bounds)

    assert response.status_code == 200 and len(response.context["cl"].result_list) == 1
    assert [str(m) for m in get_messages(response.wsgi_request)] == [message]


def test_filter_choices_come_from_the_data_and_agents_from_the_chosen_outlet(staff, agent):
    other_agent = AgentFactory(outlet=agent.outlet)
    elsewhere = AgentFactory()
    ingest(agent, {"type": "TTS", "unit": "characters", "model": "tts-1"}, {"model": "gpt-4o"})
    ingest(elsewhere, {"type": "STT", "unit": "seconds"})

    def choices(response, title):
        (spec,) = [spec for spec in response.context["cl"].filter_specs if spec.title == title]
        return [choice["display"] for choice in spec.choices(response.context["cl"])][1:]

    unfiltered = staff.get(RECORDS)
    by_outlet = staff.get(RECORDS, {"outlet__id__exact": agent.outlet_id})

    assert choices(unfiltered, "type") == ["CONVERSATION", "STT", "TTS"]
    assert choices(unfiltered, "model") == ["gpt-4o", "tts-1"]
    assert "agent" not in [spec.title for spec in unfiltered.context["cl"].filter_specs]
    assert choices(by_outlet, "agent") == sorted([agent.name, other_agent.name])


def test_a_malformed_agent_filter_is_a_bad_lookup_not_an_error(staff, agent):
    response = staff.get(RECORDS, {"agent__id__exact": "not-a-uuid"})

    assert response.status_code == 302 and response.url.endswith("?e=1")


def test_interactions_filter_by_outlet_status_sentiment_and_channel(staff, agent):
    start_call(agent, "call-1", status="completed", sentiment="positive", channel="chat")
    start_call(agent, "call-2", status="failed", sentiment="negative")
    start_call(AgentFactory(), "call-3", status="completed", sentiment="positive")
    specs = staff.get(INTERACTIONS).context["cl"].filter_specs

    assert [spec.title for spec in specs] == ["started at", "outlet", "status", "sentiment", "channel"]

    assert listed(staff.get(INTERACTIONS, {"status__exact": "failed"})) == ["call-2"]
    assert listed(staff.get(INTERACTIONS, {"sentiment__exact": "positive"})) == ["call-1", "call-3"]
    assert listed(staff.get(INTERACTIONS, {"channel": "chat"})) == ["call-1"]
    assert listed(staff.get(INTERACTIONS, {"outlet__id__exact": agent.outlet_id})) == ["call-1", "call-2"]


def test_interactions_list_their_length_as_a_clock_not_raw_seconds(staff, agent):
    start_call(agent, "call-1", duration_seconds="245.500")

    content = staff.get(INTERACTIONS).content.decode()

    assert '<td class="field-duration">4:05</td>' in content
    assert "245.500" not in content


def test_only_the_indexed_date_column_is_sortable(staff, agent):
    ingest(agent, {})

    content = staff.get(RECORDS).content.decode()

    assert content.count('class="sortable') == 1
    assert 'column-time' in content.split('class="sortable')[1].split(">")[0]


# Date drill-down: first and last dates instead of a DISTINCT scan.


def test_date_hierarchy_spans_first_to_last_date_without_a_distinct_scan(staff, agent):
    ingest(agent, *({"occurred_at": f"{day}T10:00:00Z"} for day in ("2024-12-15", "2025-01-10", "2025-03-05")))

    def drill(**params):
        with CaptureQueriesContext(connection) as queries:
            response = staff.get(RECORDS, {f"occurred_at__{name}": value for name, value in params.items()})
        assert queries_matching(queries, "DISTINCT") == []
        return response, [choice["title"] for choice in response.context["date_hierarchy"]["choices"]]

    top, years = drill()
    _, months = drill(year=2025)
    _, days = drill(year=2025, month=3)
    _, day = drill(year=2025, month=3, day=5)

    assert years == ["2024", "2025"]
    assert "?occurred_at__year=2024" in top.content.decode()
    assert months == ["January 2025", "February 2025", "March 2025"]  # February has no rows: the price of no scan
    assert days == ["March 5"]
    assert day == ["March 5"]


def test_date_hierarchy_starts_at_the_only_month_with_rows(staff, agent):
    ingest(agent, {"occurred_at": "2025-03-02T10:00:00Z"}, {"occurred_at": "2025-03-04T10:00:00Z"})

    hierarchy = staff.get(RECORDS).context["date_hierarchy"]

    assert hierarchy["back"]["title"] == "2025"
    assert [choice["title"] for choice in hierarchy["choices"]] == ["March 2", "March 3", "March 4"]


# Times in the outlet's zone, named.

KOLKATA_EVENING = "2026-03-07T20:00:00Z"  # 01:30 on 8 March in Kolkata (UTC+5:30)
KOLKATA_TIME = "2026-03-08 01:30:00 IST (Asia/Kolkata)"
ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham")


def text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


def detail_fields(page) -> dict[str, str]:
    return {field.field["name"]: text(str(field.contents()))
            for fieldset in page.context["adminform"] for line in fieldset for field in line}


def test_a_kolkata_record_at_20_utc_reads_0130_the_next_day_with_its_zone_in_the_list_and_on_its_page(staff):
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata"))
    (record,) = ingest(agent, {"occurred_at": KOLKATA_EVENING})

    (row,) = staff.get(RECORDS).context["results"]
    page = staff.get(reverse("admin:usage_usagerecord_change", args=[record.pk]))

    assert text(row[1]) == KOLKATA_TIME
    assert detail_fields(page)["occurred_at_in_zone"] == KOLKATA_TIME
    assert KOLKATA_TIME in text(page.content.decode())


def test_a_kolkata_call_reads_in_its_zone_in_the_list_on_its_page_and_in_its_records_table(staff):
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata"))
    call = start_call(agent, "call-1", started_at=KOLKATA_EVENING)
    ingest(agent, {"interaction_id": "call-1", "occurred_at": KOLKATA_EVENING})

    listing = staff.get(INTERACTIONS)
    page = staff.get(reverse("admin:usage_interaction_change", args=[call.pk]))

    headers = [header["text"] for header in listing.context["result_headers"]]
    (row,) = listing.context["results"]
    assert text(row[headers.index("started at")]) == KOLKATA_TIME
    assert detail_fields(page)["started_at_in_zone"] == KOLKATA_TIME
    records_table = page.content.decode().split("<h2>Usage records")[1]
    assert KOLKATA_TIME in text(records_table)


def test_a_page_of_100_records_in_five_zones_reads_each_outlets_zone_without_a_query_per_row(
    staff, django_assert_max_num_queries
):
    for zone in ZONES:
        ingest(AgentFactory(outlet=OutletFactory(timezone=zone)), *({"occurred_at": KOLKATA_EVENING} for _ in range(20)))

    with django_assert_max_num_queries(9):  # as for a page of 8 rows
        response = staff.get(RECORDS)

    shown = {text(row[1]) for row in response.context["results"]}
    assert len(response.context["cl"].result_list) == 100
    assert shown == {
        "2026-03-07 20:00:00 UTC", "2026-03-07 15:00:00 EST (America/New_York)", KOLKATA_TIME,
        "2026-03-08 07:00:00 +11 (Australia/Lord_Howe)", "2026-03-08 09:45:00 +1345 (Pacific/Chatham)",
    }


@pytest.mark.parametrize("one_outlet", ["outlet", "agent"])
def test_filtered_to_one_outlet_the_date_drill_down_and_range_are_its_local_dates(staff, one_outlet):
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata"))
    ingest(agent, {"occurred_at": KOLKATA_EVENING})
    only = {"outlet__id__exact": agent.outlet_id} if one_outlet == "outlet" else {"agent__id__exact": agent.pk}
    eighth = {"occurred_at__year": 2026, "occurred_at__month": 3, "occurred_at__day": 8}

    page = staff.get(RECORDS, only)

    assert [choice["title"] for choice in page.context["date_hierarchy"]["choices"]] == ["March 8"]
    assert "Dates in Asia/Kolkata, the outlet&#x27;s zone." in page.content.decode()
    assert staff.get(RECORDS, {**only, **eighth}).context["cl"].result_count == 1
    assert staff.get(RECORDS, {**only, "occurred_at__gte": "2026-03-08"}).context["cl"].result_count == 1
    assert staff.get(RECORDS, {**only, "occurred_at__lt": "2026-03-08"}).context["cl"].result_count == 0


def test_over_every_outlet_the_date_drill_down_is_utc_and_says_so(staff):
    ingest(AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata")), {"occurred_at": KOLKATA_EVENING})

    page = staff.get(RECORDS)

    assert [choice["title"] for choice in page.context["date_hierarchy"]["choices"]] == ["March 7"]
    assert "Dates in UTC; filtered to one outlet" in page.content.decode()
    eighth = {"occurred_at__year": 2026, "occurred_at__month": 3, "occurred_at__day": 8}
    assert staff.get(RECORDS, eighth).context["cl"].result_count == 0


# CSV export.


def test_csv_action_streams_every_selected_record_with_a_header(staff, agent):
    first, second, unselected = ingest(
        agent, {"model": "gpt-4o", "credits": "1.25", "meta": {"k": "v"}}, {"type": "TTS", "unit": "characters"}, {}
    )

    response = staff.post(RECORDS, {"action": "export_csv", "_selected_action": [first.pk, second.pk], "index": 0})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="usage-records.csv"' in response["Content-Disposition"]
    reader = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    rows = sorted(reader, key=lambda row: int(row["id"]))
    assert reader.fieldnames == CSV_COLUMNS
    assert [row["event_id"] for row in rows] == [first.event_id, second.event_id]
    assert (rows[0]["model"], Decimal(rows[0]["credits"]), rows[0]["meta"]) == ("gpt-4o", Decimal("1.25"), '{"k": "v"}')
    assert (rows[0]["agent_id"], rows[1]["type"]) == (str(agent.pk), "TTS")


# An interaction and its usage.


@pytest.fixture
def call_with_usage(agent):
    interaction = start_call(agent, "call-1", status="completed")
    ingest(
        agent,
        {"interaction_id": "call-1", "count": 100, "credits": "1.5", "cost_usd": "0.01", "latency_ms": 100,
         "occurred_at": "2025-03-01T10:00:00Z"},
        {"interaction_id": "call-1", "count": 50, "credits": "0.25", "cost_usd": "0.005", "latency_ms": 200,
         "occurred_at": "2025-03-01T10:01:00Z"},
        {"interaction_id": "call-1", "type": "TTS", "unit": "characters", "count": 300, "credits": "2",
         "cost_usd": "0.03", "occurred_at": "2025-03-01T10:02:00Z"},
        {"interaction_id": "call-1", "type": "TELEPHONY", "unit": "seconds", "count": 60, "credits": "1",
         "cost_usd": "0.012", "latency_ms": 900, "occurred_at": "2025-03-01T10:03:00Z"},
        {"interaction_id": "call-2", "credits": "50"},
    )
    ingest(AgentFactory(), {"interaction_id": "call-1", "credits": "70"})  # the same id in another outlet
    return interaction


def test_interaction_page_shows_its_usage_records_newest_first_and_totals_by_type(
    staff, call_with_usage, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        page = staff.get(reverse("admin:usage_interaction_change", args=[call_with_usage.pk]))

    records = page.context["usage_records"]
    assert [(r.type, r.occurred_at.minute) for r in records] == [
        ("TELEPHONY", 3), ("TTS", 2), ("CONVERSATION", 1), ("CONVERSATION", 0)
    ]
    totals = page.context["usage_totals"]
    by_type = [
        (row["type"], row["unit"], row["records"], row["count"], row["credits"], row["cost_usd"],
         row["latency_ms_avg"])
        for row in totals["by_type"]
    ]
    assert by_type == [
        ("CONVERSATION", "tokens", 2, Decimal("150"), Decimal("1.75"), Decimal("0.015"), 150),
        ("TELEPHONY", "seconds", 1, Decimal("60"), Decimal("1"), Decimal("0.012"), 900),
        ("TTS", "characters", 1, Decimal("300"), Decimal("2"), Decimal("0.03"), None),
    ]
    total = totals["overall"]
    # (100 + 200 + 900) / 3 records with a latency, not the mean of the types' means.
    assert (total["records"], total["credits"], total["cost_usd"], total["latency_ms_avg"]) == (
        4, Decimal("4.75"), Decimal("0.057"), 400
    )
    content = page.content.decode()
    assert "Usage by type" in content and "<td>TELEPHONY</td>" in content
    assert "<td>1.75</td>" in content and "<td>$0.015</td>" in content and "<td>150.0</td>" in content
    assert "<td>4.75</td>" in content and "<td>$0.057</td>" in content and "<td>400.0</td>" in content
    assert all(record.event_id in content for record in records)


def test_interaction_page_caps_its_records_and_links_to_all_of_them(staff, call_with_usage, monkeypatch):
    monkeypatch.setattr(usage_admin, "RECORDS_ON_INTERACTION_PAGE", 2)

    page = staff.get(reverse("admin:usage_interaction_change", args=[call_with_usage.pk]))
    all_records = staff.get(page.context["usage_records_url"])

    assert len(page.context["usage_records"]) == 2
    assert "(latest 2 of 4)" in page.content.decode()
    assert page.context["usage_records_url"] in unescape(page.content.decode())
    assert all_records.status_code == 200
    expected = UsageRecord.objects.filter(outlet=call_with_usage.outlet, interaction_id="call-1")
    assert listed(all_records) == sorted(expected.values_list("event_id", flat=True))


def test_usage_records_filter_by_interaction_id(staff, call_with_usage):
    response = staff.get(RECORDS, {"interaction_id": "call-1"})

    assert len(listed(response)) == 5  # four here and one in the other outlet
    assert {row.interaction_id for row in response.context["cl"].result_list} == {"call-1"}


def test_interaction_page_without_usage_says_so(staff, agent):
    page = staff.get(reverse("admin:usage_interaction_change", args=[start_call(agent, "quiet").pk]))

    assert page.context["usage_records"] == [] and page.context["usage_totals"]["overall"]["records"] == 0
    assert "No usage recorded." in page.content.decode()


# The paginator.


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite has no row estimate")
def test_paginator_counts_exactly_on_sqlite(agent, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", 0)
    ingest(agent, {}, {}, {})

    assert EstimatedCountPaginator(UsageRecord.objects.all(), 2).count == 3


@pytest.mark.postgres
def test_paginator_estimates_only_a_big_unfiltered_table_on_postgres(agent, monkeypatch):
    ingest(agent, *[{} for _ in range(30)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE usage_usagerecord")
    ingest(agent, *[{} for _ in range(5)])  # after the statistics: only a real count sees these
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", 10)

    with CaptureQueriesContext(connection) as queries:
        estimated = EstimatedCountPaginator(UsageRecord.objects.all(), 100).count

    assert estimated == 30
    assert queries_matching(queries, "COUNT(") == []
    assert EstimatedCountPaginator(UsageRecord.objects.filter(agent=agent), 100).count == 35
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", 30)
    assert EstimatedCountPaginator(UsageRecord.objects.all(), 100).count == 35



def count_plan_without_seqscan(staff, changelist: str, term: str) -> str:
    """The plan of the changelist's search count with sequential scans priced out:
    only an index for every ORed column avoids one."""
    with CaptureQueriesContext(connection) as queries:
        staff.get(changelist, {"q": term})
    [count_sql] = queries_matching(queries, "COUNT(*)")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {count_sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres
def test_the_search_box_finds_records_through_indexes_not_a_table_scan(staff, agent):
    ingest(agent, {"message_id": "msg-1"})
    plan = count_plan_without_seqscan(staff, RECORDS, "msg-1")
    assert "Seq Scan on usage_usagerecord" not in plan and "usage_message_outlet" in plan


@pytest.mark.postgres
def test_the_search_box_finds_interactions_through_indexes_not_a_table_scan(staff, agent):
    start_call(agent, "c1", end_user_id="u1")
    plan = count_plan_without_seqscan(staff, INTERACTIONS, "u1")
    assert "Seq Scan on usage_interaction" not in plan and "interaction_end_user_outlet" in plan
