import pytest


@pytest.mark.parametrize("url", ["/api/v1/interactions/a%00b/", "/api/v1/usage/records/?model=a%00b", "/api/v1/usage/records/?meta%5Bx%5D=%00"])
def test_a_nul_in_an_api_url_is_a_json_400(staff_client, url):
    response = staff_client.get(url)
    assert response.status_code == 400
    assert response.json()["message"] == "The URL must not contain the NUL character (%00)."
