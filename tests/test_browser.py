"""A real browser through the staff's first visit: log in, read the dashboard, top up an agent.

Debian's headless Chromium (`apt-get install chromium`, which `.ci/run` does) driven by
Playwright for Python with `executable_path`: Playwright's own browser downloads are never
used. The server is pytest-django's `live_server` (a real HTTP server on 127.0.0.1, over a
transactional test database); the data is `seed_demo`'s, small. Screenshots go to
tests/artifacts/ (git-ignored). Without Chromium the test is skipped with the reason, except
under CI (CI=true), where it fails: CI must run it.

The ORM is used only before the browser starts and after it stops: Playwright's sync API runs
an event loop in this thread, where Django refuses database calls.
"""

import os
import re
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics.requestlog.writer import flush, writer
from config.money import display_amount
from credits.models import CreditAccount, CreditLedgerEntry, Outlet
from credits.services import Actor
from tests.factories import AgentFactory
from usage.models import UsageRecord
from usage.services import ingest_records

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TIMEOUT_MS = 20_000
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
LEGIBLE_PX = 10  # a chart's axis labels drawn at least this tall on a phone
TOP_UP = Decimal("250")
REASON = "Browser test: top-up before the weekend campaign"
# (type, model, unit) of the widest records the usage list shows: long model ids beside long agent names.
WIDE_RECORDS = (
    ("CONVERSATION", "gpt-4o-realtime-preview-2024-12-17", "tokens"),
    ("CONVERSATION", "claude-3-5-sonnet-20241022", "tokens"),
    ("TTS", "eleven_multilingual_v2", "characters"),
    ("STT", "nova-2-phonecall", "seconds"),
    ("TELEPHONY", "twilio-programmable-voice", "seconds"),
)

pytestmark = pytest.mark.browser


def need_chromium():
    """Playwright's sync API, or a skip (a failure under CI) that says what is missing."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium; .ci/run does)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "Playwright for Python is not installed: make venv (requirements.txt)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test, but there is {problem}")
        pytest.skip(problem)
    return sync_playwright


def fail_an_api_call(base_url: str) -> None:
    """A call with a wrong key: the request log records a 401 for the dashboard's failed-calls panel."""
    writer.discard()  # rows earlier tests left in this process's buffer
    request = urllib.request.Request(
        f"{base_url}/api/v1/usage/records/", headers={"Authorization": "Bearer Wrong123.not-a-real-secret"}
    )
    with pytest.raises(urllib.error.HTTPError) as failure:
        urllib.request.urlopen(request, timeout=10)
    assert failure.value.code == 401
    flush()  # the server buffered the row; tests write it when they say so


def number(text: str) -> Decimal:
    return Decimal(re.sub(r"[^0-9.\-]", "", text))


def ingest_wide_records() -> None:
    """The newest records, as wide as real ones get: long agent names and model ids, seven-figure counts."""
    outlet = Outlet.objects.order_by("name").first()
    agents = [
        AgentFactory(outlet=outlet, name=name)
        for name in ("Outbound renewals – EMEA evening shift (Maximilian)", "Claims intake – after hours (Henriette)")
    ]
    ingest_records(
        outlet=outlet,
        records=[
            {
                "event_id": f"wide-{index}", "agent_id": str(agents[index % 2].pk), "type": kind, "model": model,
                "unit": unit, "count": 1_234_567 + index, "credits": "1234.567891", "cost_usd": "12.34567891",
                "latency_ms": 12_345, "occurred_at": (timezone.now() - timedelta(minutes=index)).isoformat(),
            }
            for index, (kind, model, unit) in enumerate(WIDE_RECORDS * 3)
        ],
        actor=Actor.system("browser test"),
    )


def assert_no_horizontal_overflow(page) -> None:
    """Neither the page nor the results box scrolls sideways, and the results table ends inside the viewport."""
    overflow = page.evaluate("""() => {
        const results = document.querySelector("#changelist .results"), table = document.querySelector("#result_list");
        return {page: document.documentElement.scrollWidth, viewport: document.documentElement.clientWidth,
                results: results.scrollWidth, resultsBox: results.clientWidth,
                tableRight: table.getBoundingClientRect().right};
    }""")
    assert overflow["page"] <= overflow["viewport"], overflow
    assert overflow["results"] <= overflow["resultsBox"], overflow
    assert overflow["tableRight"] <= overflow["viewport"], overflow


def test_staff_log_in_read_the_dashboard_and_add_credits_to_an_agent(live_server):
    sync_playwright = need_chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    call_command("seed_demo", "--outlets", "2", "--agents", "3", "--records", "1500", stdout=StringIO())
    ingest_wide_records()
    fail_an_api_call(live_server.url)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(viewport=DESKTOP)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            # A script or style the Content-Security-Policy refuses is a console error: there must be none
            # (the browser's own request for /favicon.ico, which the admin does not serve, aside).
            console_errors = []
            page.on("console", lambda message: message.type == "error"
                    and not message.location.get("url", "").endswith("/favicon.ico")
                    and console_errors.append(f"{message.text} ({message.location.get('url')})"))

            # A newcomer opens the admin and logs in with the demo's admin / admin.
            page.goto(f"{live_server.url}/admin/")
            assert "/admin/login/" in page.url
            page.fill("#id_username", "admin")
            page.fill("#id_password", "admin")
            page.click("input[type=submit]")
            page.wait_for_selector(".ll-dashboard")

            # The dashboard: KPI tiles with numbers, every chart drawn.
            assert page.locator("h1").first.inner_text() == "Dashboard"
            credits = page.locator('[data-kpi="credits-consumed"] .ll-kpi-value').inner_text()
            assert number(credits) > 0, credits
            assert page.locator('[data-kpi="calls"] .ll-kpi-value').inner_text() != "0"
            assert re.fullmatch(r"\d+(\.\d)?%", page.locator('[data-kpi="success-rate"] .ll-kpi-value').inner_text())
            charts = page.locator("svg.ll-chart")
            assert charts.count() == 8
            for index in range(charts.count()):
                chart = charts.nth(index)
                assert chart.get_attribute("role") == "img" and chart.get_attribute("aria-label")
                assert chart.locator("rect.bar").count() > 0, chart.get_attribute("id")
                box = chart.bounding_box()
                assert box["width"] > 200 and box["height"] > 50, (chart.get_attribute("id"), box)
            assert page.locator("#chart-daily path.line").count() == 1
            heights = page.eval_on_selector_all("#chart-daily rect.bar", "bars => bars.map(b => b.getBBox().height)")
            assert any(height > 0 for height in heights)  # laid out by the browser, not just present
            assert page.locator("[data-failed-count]").get_attribute("data-failed-count") == "1"
            assert "api/v1/usage/records/" in page.locator("#table-failed_requests").inner_text()
            assert page.locator("#table-runway tbody tr").count() > 0
            page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)
            assert console_errors == []

            # With JavaScript off the numbers are all there: the charts are SVG from the server.
            no_js = browser.new_context(java_script_enabled=False, storage_state=context.storage_state())
            plain = no_js.new_page()
            plain.goto(f"{live_server.url}/admin/?range=90d")
            assert plain.locator('[data-kpi="credits-consumed"] .ll-kpi-value').inner_text() != "0.00"
            assert plain.locator("#chart-daily rect.bar").count() == 90 + 1  # a column a day, and the legend's
            plain.screenshot(path=ARTIFACTS / "dashboard-no-javascript.png", full_page=True)
            no_js.close()

            # At 390 px each agent's balance and runway are on screen, and each open alert's balance; the charts'
            # labels are legible, and only a chart box scrolls sideways, not the page.
            phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state())
            small = phone.new_page()
            small.goto(f"{live_server.url}/admin/")
            small.wait_for_selector(".ll-dashboard")
            for table, cells in (("runway", ("agent", "balance", "runway_days")), ("alerts", ("agent", "balance"))):
                rows = small.locator(f"#table-{table} tbody tr")
                assert rows.count() > 0, table
                for index in range(rows.count()):
                    for cell in cells:
                        box = rows.nth(index).locator(f"td.ll-col-{cell}").bounding_box()
                        inside = box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
                        assert inside, (table, index, cell, box)
            label_heights = small.eval_on_selector_all(
                "#chart-daily text.axis, #chart-breakdown text.label", "labels => labels.map(l => l.getBoundingClientRect().height)"
            )
            assert label_heights and min(label_heights) >= LEGIBLE_PX, label_heights
            assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            small.screenshot(path=ARTIFACTS / "dashboard-390px.png", full_page=True)
            phone.close()

            # A chart's bar leads to the records behind it: the busiest day's column opens that day's usage records.
            heights = page.eval_on_selector_all("#chart-daily a rect.bar", "bars => bars.map(b => b.getBBox().height)")
            busiest = heights.index(max(heights))
            bar_link = page.locator("#chart-daily a").nth(busiest)
            href = bar_link.get_attribute("href")
            day = re.search(r"occurred_at__year=(\d+)&occurred_at__month=(\d+)&occurred_at__day=(\d+)", href).groups()
            bar_link.click()
            page.wait_for_url(f"**{href}")
            assert "/admin/usage/usagerecord/" in page.url
            listed_records = page.locator("#result_list tbody tr").count()
            page.screenshot(path=ARTIFACTS / "daily-bar-records.png", full_page=True)

            # At 1440 px the usage records list shows every column, the widest rows included, without scrolling.
            page.goto(f"{live_server.url}/admin/usage/usagerecord/")
            assert page.locator("#result_list tbody tr", has_text=WIDE_RECORDS[0][1]).count() == 3
            page.screenshot(path=ARTIFACTS / "usage-records-1440px.png")  # the first screenful: the width is the point
            assert_no_horizontal_overflow(page)
            # The domain's other lists fit too (config/static/ledgerline/admin_lists.css).
            for model in ("credits/creditledgerentry", "credits/creditalert", "credits/apikey", "usage/interaction"):
                page.goto(f"{live_server.url}/admin/{model}/")
                assert_no_horizontal_overflow(page)
            page.goto(f"{live_server.url}/admin/")
            page.wait_for_selector(".ll-dashboard")

            # The agent with the lowest runway: its account page, the Add credits button, the form, the confirmation.
            agent_link = page.locator("#table-runway tbody a").first
            agent_name = agent_link.inner_text()
            agent_link.click()
            page.wait_for_selector("text=Recent ledger entries")
            page.get_by_role("link", name="Add credits").click()
            page.fill("#id_amount", str(TOP_UP))
            page.fill("#id_reason", REASON)
            page.screenshot(path=ARTIFACTS / "add-credits-form.png", full_page=True)
            page.click("input[type=submit][value=Continue]")
            page.wait_for_selector("text=Please confirm this change")
            before = number(page.locator("th:text('Balance before') + td").inner_text())
            after = number(page.locator("th:text('Balance after') + td").inner_text())
            assert after == before + TOP_UP
            page.screenshot(path=ARTIFACTS / "add-credits-confirm.png", full_page=True)
            page.click("input[type=submit][value=Confirm]")

            # The success message and the new ledger entry on the account page.
            message = page.locator(".messagelist .success").inner_text()
            shown_before, shown_after, shown_top_up = (display_amount(value, "credits", full=True)
                                                       for value in (before, after, TOP_UP))
            assert message == f"Add credits for {agent_name}: {shown_before} -> {shown_after}."
            newest = page.locator("text=Recent ledger entries >> xpath=.. >> tbody tr").first.inner_text()
            assert "Add" in newest and shown_top_up in newest and shown_after in newest and REASON in newest
            page.screenshot(path=ARTIFACTS / "account-after-add-credits.png", full_page=True)

            # Back on the dashboard, the runway shows the new balance at once.
            page.goto(f"{live_server.url}/admin/")
            row = page.locator("#table-runway tbody tr", has_text=agent_name)
            assert f"{after:,.2f}" in row.inner_text()

            # The API's Swagger UI draws every operation under the same policy.
            page.goto(f"{live_server.url}/api/docs/")
            page.wait_for_selector(".opblock-summary-path")
            assert page.locator(".opblock-summary-path", has_text="/api/v1/credits/set/").count() == 1
            page.screenshot(path=ARTIFACTS / "swagger-ui.png", full_page=True)
            assert console_errors == []
        finally:
            browser.close()

    year, month, day_of_month = map(int, day)
    day_records = UsageRecord.objects.filter(
        occurred_at__year=year, occurred_at__month=month, occurred_at__day=day_of_month
    )
    assert listed_records == day_records.count() > 0
    entry = CreditLedgerEntry.objects.get(reason=REASON)
    assert (entry.kind, entry.amount, entry.balance_after) == (CreditLedgerEntry.Kind.ADD, TOP_UP, after)
    assert entry.actor_user.username == "admin"
    assert CreditAccount.objects.get(pk=entry.account_id).balance == after
