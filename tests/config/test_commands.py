from config.commands import cli_label, plural


def test_reconcile_counts_read_with_thousands_separators():
    assert plural(21306, "rollup row") == "21,306 rollup rows"
    assert plural(1, "account") == "1 account"


def test_the_operator_is_named_by_their_os_account_after_the_commands_that_name_themselves(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "ops")

    assert cli_label() == "cli:ops"
    assert cli_label("import_usage") == "cli:import_usage:ops"
