from unittest import mock

from django.db import OperationalError

from config.api.csv import csv_response


def failing_lines():
    raise OperationalError("canceling statement due to statement timeout")
    yield "never"


def test_a_csv_export_runs_its_query_before_the_answer_starts(staff_client):
    with mock.patch("config.api.views.queryset_csv_lines", return_value=failing_lines()):
        response = staff_client.get("/api/v1/usage/records/", {"format": "csv"})
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    assert response["Retry-After"]


def test_the_first_chunk_is_streamed_with_the_rest():
    response = csv_response(iter(["a,b\r\n", "1,2\r\n"]), "export")
    assert b"".join(response.streaming_content) == b"a,b\r\n1,2\r\n"
    assert response["Content-Disposition"] == 'attachment; filename="export.csv"'


def test_a_blank_format_is_json_like_any_blank_parameter(staff_client):
    response = staff_client.get("/api/v1/usage/records/", {"format": ""})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
