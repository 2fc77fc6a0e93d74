from config import checks
from config.checks import CheckResult


def test_each_app_registers_its_checks_in_the_order_the_apps_are_installed():
    assert [name for name, _ in checks.registered()] == ["ledger", "holds", "rollups"]


def test_registering_a_name_again_replaces_its_check(monkeypatch):
    monkeypatch.setattr(checks, "_CHECKS", {})
    checks.register("ledger", lambda: CheckResult(checked="first"))
    checks.register("ledger", lambda: CheckResult(checked="second"))

    [(name, check)] = checks.registered()
    assert (name, check().checked) == ("ledger", "second")
