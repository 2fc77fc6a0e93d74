"""The registry of facts: each dimension, measure and rollup it names is a real column, and what is derived from it agrees."""

import pytest
from django.db.models import Value

from analytics.facts import (
    BREAKDOWN_DIMENSIONS,
    BREAKDOWNS,
    FACTS,
    HISTOGRAMS,
    MANY_VALUED_BREAKDOWNS,
    OUTLET,
    UNIT_MEASURES,
    USAGE,
    USAGE_SUMS,
    rollup_rows,
)
from credits.models import Agent
from usage.models import UsageRecord

ROLLUPS = [pytest.param(fact, rollup, id=rollup.model.__name__) for fact in FACTS for rollup in fact.rollups]
EACH_FACT = pytest.mark.parametrize("fact", FACTS, ids=[fact.name for fact in FACTS])


def columns_of(model) -> dict:
    return {model_field.attname: model_field for model_field in model._meta.concrete_fields}


@EACH_FACT
def test_every_dimension_is_a_column_of_the_raw_table_named_once(fact):
    columns = [dimension.column for dimension in fact.dimensions]
    assert len(columns) == len(set(columns)) and OUTLET in columns
    assert set(columns) <= columns_of(fact.raw).keys()
    assert fact.dimension_columns == set(columns)


@EACH_FACT
def test_a_dimension_of_agent_ids_is_the_agent_foreign_key(fact):
    for dimension in fact.dimensions:
        column = columns_of(fact.raw)[dimension.column]
        assert (column.is_relation and column.related_model is Agent) == dimension.agent_ids, dimension


@pytest.mark.parametrize(("fact", "rollup"), ROLLUPS)
def test_a_rollup_has_a_column_for_each_dimension_it_holds(fact, rollup):
    assert rollup.dimensions <= fact.dimension_columns
    assert rollup.dimensions | {OUTLET} <= columns_of(rollup.model).keys()


@pytest.mark.parametrize(("fact", "rollup"), ROLLUPS)
def test_every_other_column_of_a_rollup_is_a_measure_of_its_fact_that_its_build_sums(fact, rollup):
    stored = columns_of(rollup.model).keys() - {"id", "bucket", OUTLET, *rollup.dimensions}
    assert stored <= fact.measures.keys()
    assert set(fact.stored_measures(rollup)) == stored
    built = rollup_rows(fact, rollup, fact.raw.objects.all(), Value("UTC")).query.annotations
    assert {f"sum_{name}" for name in stored} <= built.keys()


@pytest.mark.parametrize(("fact", "rollup"), ROLLUPS)
def test_a_rollups_measures_are_read_off_its_model_once(fact, rollup):
    assert rollup.measures is rollup.measures  # asked per measure of every part of an answer


@pytest.mark.parametrize(("fact", "rollup"), ROLLUPS)
def test_a_rollup_ranked_in_a_dimension_s_order_has_an_index_in_that_order(fact, rollup):
    if rollup.ranked_in_order is None:
        return
    assert rollup.ranked_in_order in rollup.dimensions
    assert any(index.fields[0] == rollup.ranked_in_order for index in rollup.model._meta.indexes)


@EACH_FACT
def test_every_measure_is_summed_by_some_rollup_so_no_question_is_left_to_the_raw_rows(fact):
    for name in fact.measures:
        assert any(rollup.can_sum(name, fact.slices) for rollup in fact.rollups), name


@EACH_FACT
def test_a_slice_is_a_measure_of_another_measure_where_a_dimension_has_a_value(fact):
    for name, piece in fact.slices.items():
        assert name in fact.measures and piece.measure in fact.measures
        assert piece.dimension in fact.dimension_columns


def test_every_unit_has_its_units_measure_and_the_usage_totals_are_measures():
    assert set(UNIT_MEASURES) == set(UsageRecord.Unit.values)
    assert set(UNIT_MEASURES.values()) | USAGE_SUMS <= USAGE.measures.keys()


def test_the_breakdowns_are_the_usage_dimensions_the_api_names_in_their_order():
    assert BREAKDOWN_DIMENSIONS == tuple(dimension for dimension in USAGE.dimensions if dimension.api_name)
    assert len(BREAKDOWNS) == len(BREAKDOWN_DIMENSIONS)  # no name given twice
    assert list(BREAKDOWNS.items()) == [(dimension.api_name, dimension.column) for dimension in BREAKDOWN_DIMENSIONS]
    assert MANY_VALUED_BREAKDOWNS == {dimension.api_name for dimension in BREAKDOWN_DIMENSIONS if dimension.many_valued}
    assert MANY_VALUED_BREAKDOWNS <= BREAKDOWNS.keys()
    assert all(dimension.help_text for dimension in BREAKDOWN_DIMENSIONS)


@pytest.mark.parametrize("dimension", BREAKDOWN_DIMENSIONS, ids=lambda dimension: dimension.api_name)
def test_a_breakdown_is_answered_from_a_rollup(dimension):
    """A many-valued breakdown ranks totals with units pivoted (its rollup keeps no unit); any other groups by unit."""
    if dimension.many_valued:
        assert USAGE.rollup_for({dimension.column}, None, {"credits", *UNIT_MEASURES.values()}) is not None
    else:
        assert USAGE.rollup_for({dimension.column, "unit"}, "day", USAGE_SUMS) is not None


def test_a_histogram_fits_one_json_array_call():
    assert all(len(columns) <= 100 for columns in HISTOGRAMS.values())  # PostgreSQL's functions take 100 arguments
