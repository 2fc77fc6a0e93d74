"""The dashboard's charts: the selectors' numbers drawn, with their summaries and tooltips."""

from tests.analytics.dashboard.pages import INDEX, SPEND_RANGE, kpis, svg


def test_kpis_and_charts_show_the_selectors_numbers(staff, spend):
    page = staff.get(INDEX, {**SPEND_RANGE, "outlet": spend["outlet"].pk})

    assert page.status_code == 200
    # spend_data: credits 1.5 + 0.2 + 0.9 + 0.1; cost 0.12184567; 6 calls, 4 completed, 1 failed, 1 in progress.
    assert kpis(page) == {
        "credits-consumed": "2.70", "spend-usd": "$0.1218", "calls": "6", "success-rate": "66.7%",
        "average-latency": "—", "agents-below-threshold": "2", "credits-held-now": "0.00",
        "agents-refused-a-hold-today": "0",
    }
    daily = svg(page, "chart-daily")
    assert 'role="img"' in daily and "aria-label=" in daily
    assert daily.count("<rect") >= 3 + 1 and "<path" in daily  # three days' columns, the legend, the spend line
    assert "<title>Mar 02: 1.70 credits, $0.0163 USD spend</title>" in daily
    assert "2.70 credits and $0.1218 over 3 days" in daily
    assert "Completed: 4 (67%)" in svg(page, "chart-status")
    assert "CONVERSATION: 1.50 (56%)" in svg(page, "chart-by-type")
    assert "first: 1.70" in svg(page, "chart-top-agents")
