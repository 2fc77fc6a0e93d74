"""The request log's query strings: secrets redacted, the rest as sent, cut to a bound."""

import pytest

from analytics.requestlog.redaction import redacted_query

API_KEY = "WJgNpZVL.dLeIM1fxxz4uXSMwlLqMn5PZYhTtTkyd"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=4xx&take=10", "status=4xx&take=10"),
        ("key=abc&from=2026-03-01", "key=[redacted]&from=2026-03-01"),
        ("api_key=a&token=b&access_token=c&password=d&secret=e&signature=f",
         "api_key=[redacted]&token=[redacted]&access_token=[redacted]&password=[redacted]&secret=[redacted]"
         "&signature=[redacted]"),
        ("TOKEN=b&Api_Key=c", "TOKEN=[redacted]&Api_Key=[redacted]"),  # names in any case
        ("meta%5Btoken%5D=b&meta[region]=eu", "meta%5Btoken%5D=[redacted]&meta[region]=eu"),  # a bracketed name
        (f"q={API_KEY}", "q=[redacted]"),  # an API key under any name
        (f"q=Bearer+{API_KEY.replace('.', '%2E')}", "q=[redacted]"),  # encoded, inside a longer value
        (f"note={JWT}", "note=[redacted]"),
        (f"{API_KEY}=1&take=5", "[redacted]&take=5"),  # a key as a parameter's name
        ("model=claude-3.5-sonnet&amount=12.50&from=2026-03-01", "model=claude-3.5-sonnet&amount=12.50&from=2026-03-01"),
        ("token", "token=[redacted]"),  # a name without a value
        ("a=1&&b=2", "a=1&&b=2"),
        ("", ""),
    ],
)
def test_secrets_are_redacted_and_the_rest_kept_as_sent(query, expected):
    assert redacted_query(query, limit=2000) == expected


def test_a_long_query_is_cut_to_its_bound():
    query = "&".join(f"agent_id={n}" for n in range(1000))
    assert len(redacted_query(query, limit=2000)) == 2000
    assert redacted_query(query, limit=2000) == query[:2000]


def test_a_secret_across_the_cut_is_redacted_never_half_kept():
    query = "a=" + "x" * 15 + f"&q={API_KEY}"
    kept = redacted_query(query, limit=30)
    assert kept == ("a=" + "x" * 15 + "&q=[redacted]")[:30]
    assert "dLeIM1" not in redacted_query(query, limit=len(query) - 5)
