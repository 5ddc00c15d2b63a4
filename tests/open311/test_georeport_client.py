"""A real Open311 client from PyPI (georeport 0.3.1) talks to the app over HTTP: discovery, services, POST, read back.

georeport reads (services, definitions, requests) in both of its formats but cannot POST or read discovery; those go
through `requests` (its own dependency), as any client would send them.
"""

import pytest
import requests
from georeport import GeoReport

from issues.models import Issue
from issues.workflow import issue_classify

from .conftest import REPORTER_PHONE


@pytest.fixture
def base_url(live_server):
    """Return the live server's Open311 root (the flush after it works on SQLite since issues 0003)."""
    return f"{live_server.url}/open311/v2"


@pytest.mark.parametrize("output_format", ["json", "xml"])
def test_georeport_client_reads_services_and_the_request_it_posted(
    base_url, partner, territory, category, leak_service, community_staff, output_format
):
    _, api_key = partner
    client = GeoReport(base_url, api_key=api_key, output_format=output_format)

    discovery = requests.get(f"{base_url}/discovery.json", timeout=10).json()
    assert discovery["endpoints"][0]["url"] == f"{base_url}/"

    services = client.get_service_list()
    assert {s["service_code"] for s in services} == {"stairwell", "water-leak"}

    definition = client.get_service_definition("water-leak")
    attributes = definition["attributes"]
    if output_format == "xml":  # xmltodict: <attributes><attribute>…</attribute>…</attributes>
        attributes = attributes["attribute"]
    assert [a["code"] for a in attributes] == ["floor", "severity"]

    posted = requests.post(
        f"{base_url}/requests.{output_format}",
        data={
            "api_key": api_key,
            "service_code": "water-leak",
            "lat": "25.825",
            "long": "114.955",
            "address_string": "3栋2单元",
            "description": "厨房天花板一直滴水",
            "first_name": "德华",
            "last_name": "刘",
            "phone": REPORTER_PHONE,
            "attribute[floor]": "3",
        },
        timeout=10,
    )
    assert posted.status_code == 201, posted.text
    if output_format == "json":
        number = posted.json()[0]["service_request_id"]
    else:
        import xmltodict

        number = xmltodict.parse(posted.content)["service_requests"]["request"]["service_request_id"]

    # georeport reads without its key: the public list (issues.publicity), where a request shows once staff have
    # seen it, without its address, at its grid's centroid (the test grid's happens to be the point posted).
    assert requests.get(f"{base_url}/requests/{number}.json", timeout=10).status_code == 404
    issue_classify(issue=Issue.objects.get(number=number), actor=community_staff, category=leak_service)
    one = client.get_service_request(number)
    assert (one["service_request_id"], one["status"], one["service_code"]) == (number, "open", "water-leak")
    assert not one["address"]
    assert float(one["lat"]) == 25.825 and float(one["long"]) == 114.955
    mine = requests.get(f"{base_url}/requests/{number}.json", params={"api_key": api_key}, timeout=10).json()[0]
    assert mine["address"] == "3栋2单元"

    listed = client.get_service_requests(service_request_id=number)
    if output_format == "xml":
        listed = [listed]  # xmltodict gives the single <request> as a dict
    assert [r["service_request_id"] for r in listed] == [number]
    if output_format == "json":  # georeport cannot parse an empty XML list (<service_requests />) itself
        assert client.get_service_requests(status="closed", service_code="water-leak") == []
