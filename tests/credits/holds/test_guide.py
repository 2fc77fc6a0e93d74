"""docs/api.md's "Holding credits for a call", run as written: its curl calls, in order, against a live server.

The guide's first block sets LEDGERLINE, KEY and AGENT; the test puts the live server's URL, a real key and a real
agent in their place and runs every block in one bash, where `curl` also writes each answer's status to stderr.
The calls need curl and jq (.ci/run installs both); without them the test is skipped, except under CI.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from credits.holds.models import CreditHold
from tests.credits.test_api import add
from tests.factories import AgentFactory, OutletFactory, create_api_key
from usage.validation import RECORD_FIELDS

HEADING = "## Holding credits for a call"
STEP = "__step__"
STATUS = re.compile(r"__status__ (\d{3})")
# Reports each answer's status on stderr, leaving stdout to the guide's pipes.
PRELUDE = "set -eu\ncurl() { command curl -w '%{stderr}__status__ %{http_code}\\n' \"$@\"; }\n"
INGESTS = "hold_id" in RECORD_FIELDS  # the capture of ingest: a record may name its hold


def guide_blocks() -> list[str]:
    text = (Path(settings.BASE_DIR) / "docs" / "api.md").read_text()
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def with_values(block: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        block, found = re.subn(rf"^{name}=\S+", lambda _: f"{name}={shlex.quote(value)}", block, flags=re.MULTILINE)
        assert found == 1, f"the guide's first block sets {name} once"
    return block


def json_of(output: str) -> dict:
    return json.loads(output)


def need_tools() -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the guide, but {', '.join(missing)} is not installed")
        pytest.skip(f"the guide's calls need {', '.join(missing)}")


def expectations(hold_id) -> list[tuple[str, int, object]]:
    """Per call, in the guide's order: a text its block holds, the status it answers, a check of its output."""
    spent = Decimal("3.1") if INGESTS else Decimal("0")
    return [
        ("agents/$AGENT/", 200, lambda out: json_of(out)["agent"]["effective"]["enforcement"] == "block"),
        ("credits/check/", 200, lambda out: json_of(out) | {"balance": None} == {
            "success": True, "allowed": True, "available": "100.000000", "balance": None, "held": "0.000000",
        }),
        ("credits/holds/\"", 201, lambda out: out.strip() == str(hold_id())),
        ("/extend/", 200, lambda out: (json_of(out)["hold"]["amount"], json_of(out)["available"]) == ("4.000000", "96.000000")),
        *([("usage/records/", 200, lambda out: json_of(out)["accepted"] == 1)] if INGESTS else []),
        ("/release/", 200, lambda out: (json_of(out)["hold"]["status"], json_of(out)["hold"]["held"]) == (
            "captured" if INGESTS else "released", "0.000000",
        )),
        ("holds/?reference=$CALL", 200, lambda out: [
            (item["reference"], Decimal(item["captured"])) for item in json_of(out)["items"]
        ] == [("call-0001", spent)]),
    ]


def test_the_guides_calls_answer_as_it_says(live_server, transactional_db):
    need_tools()
    outlet = OutletFactory()
    agent = AgentFactory(outlet=outlet)
    add(agent, "100")
    _, key = create_api_key(outlet=outlet, scopes=("read", "ingest", "credits:write"))
    setup, *calls = guide_blocks()
    if not INGESTS:  # ingest does not take `hold_id` yet: every other call still runs
        calls = [call for call in calls if "usage/records/" not in call]
    steps = expectations(lambda: CreditHold.objects.get().pk)
    assert len(calls) == len(steps), "every call of the guide is checked"
    script = PRELUDE + with_values(setup, {"LEDGERLINE": live_server.url, "KEY": key, "AGENT": str(agent.pk)})
    script += "".join(f"printf '\\n{STEP}\\n'; printf '{STEP}\\n' >&2\n{call}" for call in calls)
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    outputs, statuses = run.stdout.split(f"\n{STEP}\n")[1:], run.stderr.split(f"{STEP}\n")[1:]
    for call, output, status, (names, expected, check) in zip(calls, outputs, statuses, steps, strict=True):
        assert names in call, (names, call)
        assert STATUS.findall(status) == [str(expected)], (call, status, output)
        assert check(output), (call, output)
    assert CreditHold.objects.get().status == ("captured" if INGESTS else "released")
