from datetime import UTC, datetime, timedelta

import pytest
from django.http import QueryDict

from credits.services import Actor
from usage.filtersets import InteractionFilterSet, UsageRecordFilterSet
from usage.models import Interaction, UsageRecord
from usage.services import ingest_records, upsert_interactions

ACTOR = Actor.system("tests")
WHEN = datetime(2026, 3, 1, 12, tzinfo=UTC)


def store(agent, *metas: dict) -> list[int]:
    records = [
        {
            "event_id": f"e{index}", "agent_id": str(agent.pk), "type": "TTS", "unit": "characters", "count": 10,
            "credits": "0", "cost_usd": "0", "meta": meta, "occurred_at": (WHEN + timedelta(seconds=index)).isoformat(),
        }
        for index, meta in enumerate(metas)
    ]
    return ingest_records(outlet=agent.outlet, records=records, actor=ACTOR).ids


def records_matching(query: str) -> list[int]:
    filterset = UsageRecordFilterSet(QueryDict(query), queryset=UsageRecord.objects.order_by("id"))
    assert filterset.is_valid(), filterset.errors
    return list(filterset.qs.values_list("id", flat=True))


def meta_errors(query: str) -> list[str]:
    filterset = UsageRecordFilterSet(QueryDict(query), queryset=UsageRecord.objects.all())
    assert not filterset.is_valid()
    return filterset.errors["meta"]


def test_meta_parameters_become_one_key_value_mapping(db):
    query = QueryDict("meta[channel]=web&meta[campaign]=spring&type=TTS")
    filterset = UsageRecordFilterSet(query, queryset=UsageRecord.objects.all())
    assert filterset.is_valid()
    assert filterset.form.cleaned_data["meta"] == {"channel": "web", "campaign": "spring"}


def test_every_meta_pair_must_match(agent):
    both, web_only, _ = store(agent, {"channel": "web", "campaign": "spring"}, {"channel": "web"}, {"campaign": "spring"})
    assert records_matching("meta[channel]=web&meta[campaign]=spring") == [both]
    assert records_matching("meta[channel]=web") == [both, web_only]
    assert records_matching("meta[channel]=web&meta[campaign]=fall") == []


def test_meta_values_compare_as_json_strings(agent):
    text, *_ = store(agent, {"tier": "5"}, {"tier": 5}, {"tier": "05"}, {"vip": True}, {"tier": {"level": "5"}}, {"nil": None})
    assert records_matching("meta[tier]=5") == [text]
    assert records_matching("meta[vip]=true") == []
    assert records_matching("meta[nil]=null") == []
    assert records_matching('meta[tier]={"level":"5"}') == []


def test_meta_keys_match_literally_whatever_their_characters(agent):
    digit, dotted, lookup_like, spaced = store(agent, {"0": "x"}, {"a.b": "x"}, {"contains": "x", "a__b": "y"}, {"a b": "x"})
    assert records_matching("meta[0]=x") == [digit]
    assert records_matching("meta[a.b]=x") == [dotted]
    assert records_matching("meta[contains]=x&meta[a__b]=y") == [lookup_like]
    assert records_matching("meta[a%20b]=x") == [spaced]


def test_an_empty_meta_value_matches_an_empty_string(agent):
    empty, _ = store(agent, {"note": ""}, {"note": "hi"})
    assert records_matching("meta[note]=") == [empty]


@pytest.mark.parametrize("name", ["meta", "meta[]", "meta[a", "meta[a]b", "meta[a][b]", "meta[[a]]"])
def test_a_malformed_meta_parameter_is_an_error_naming_it(db, name):
    (message,) = meta_errors(f"{name}=x")
    assert f"'{name}' is not a meta filter" in message and "meta[key]=value" in message


def test_a_meta_key_given_twice_is_an_error(db):
    assert meta_errors("meta[a]=x&meta[a]=y") == ["'meta[a]' is given 2 times: give each key once."]


def test_too_many_meta_filters_is_an_error(db):
    query = "&".join(f"meta[k{index}]=v" for index in range(21))
    assert "At most 20 meta filters" in meta_errors(query)[0]


def test_parameters_that_merely_start_with_meta_are_not_meta_filters(agent):
    store(agent, {})
    assert len(records_matching("metadata=x&metaphor[a]=b")) == 1


def test_interactions_filter_by_any_of_several_statuses(agent):
    upsert_interactions(
        outlet=agent.outlet,
        interactions=[
            {"interaction_id": name, "agent_id": str(agent.pk), "started_at": WHEN.isoformat(), "status": status}
            for name, status in (("a", "in_progress"), ("b", "completed"), ("c", "failed"))
        ],
    )
    filterset = InteractionFilterSet(QueryDict("status=completed&status=failed"), queryset=Interaction.objects.all())
    assert sorted(filterset.qs.values_list("interaction_id", flat=True)) == ["b", "c"]


def test_an_unknown_status_or_sentiment_is_an_error(db):
    filterset = InteractionFilterSet(QueryDict("status=paused&sentiment=angry"), queryset=Interaction.objects.all())
    assert not filterset.is_valid()
    assert set(filterset.errors) == {"status", "sentiment"}


@pytest.mark.parametrize("query", ["meta[%s=1", "meta[%]=1&meta[%]=2"])
def test_a_meta_filter_holding_a_percent_sign_is_a_400_not_a_crash(key_client, query):
    response = key_client("read").get(f"/api/v1/usage/records/?{query.replace('%', '%25')}")
    assert response.status_code == 400 and "meta" in response.json()["message"]
