"""What the analytics API's tests share: the endpoints, a date range, and reading a CSV answer."""

import csv
import io

SERIES = "/api/v1/usage/series/"
SNAPSHOT = "/api/v1/usage/snapshot/"
SUMMARY = "/api/v1/usage/summary/"
MODELS = "/api/v1/analytics/models/"
SPEND = "/api/v1/analytics/spend/"
USAGE = "/api/v1/analytics/usage/"
HISTORY = "/api/v1/credits/history/"
ENDPOINTS = (SERIES, SNAPSHOT, SUMMARY, MODELS, SPEND, USAGE, HISTORY)
REQUESTS = "/api/v1/analytics/requests/"
RANGE = {"from": "2026-03-02", "to": "2026-03-04"}


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
