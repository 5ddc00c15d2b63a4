"""A real Open311 client from PyPI (georeport 0.3.1) talks to the app over HTTP: discovery, services, POST, read back.

georeport reads (services, definitions, requests) in both of its formats but cannot POST or read discovery; those go
through `requests` (its own dependency), as any client would send them.
"""

import importlib

import pytest
import requests
from django.db import connection
from georeport import GeoReport

from .conftest import REPORTER_PHONE

append_only = importlib.import_module("issues.migrations.0002_event_append_only")


@pytest.fixture
def base_url(live_server):
    """Return the live server's Open311 root; afterwards let the test database be flushed.

    A live server needs a flushed database after the test, and on SQLite the flush is a DELETE, which the
    append-only trigger on issue events refuses (PostgreSQL truncates, which row triggers do not see). So the
    events this test wrote are removed here, with the trigger lifted for just that statement.
    """
    yield f"{live_server.url}/open311/v2"
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            # Put the trigger back only if it was there: migration 0003 drops it on SQLite, and re-creating it
            # here made every later transactional test fail its flush.
            cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'issues_event_no_delete'")
            had_trigger = cursor.fetchone() is not None
            cursor.execute("DROP TRIGGER IF EXISTS issues_event_no_delete")
            cursor.execute("DELETE FROM issues_event")
            if had_trigger:
                cursor.execute(append_only.SQLITE_TRIGGERS[1])


@pytest.mark.parametrize("output_format", ["json", "xml"])
def test_georeport_client_reads_services_and_the_request_it_posted(
    base_url, partner, territory, category, leak_service, output_format
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

    one = client.get_service_request(number)
    assert (one["service_request_id"], one["status"], one["service_code"]) == (number, "open", "water-leak")
    assert one["address"] == "3栋2单元"
    assert float(one["lat"]) == 25.825 and float(one["long"]) == 114.955

    listed = client.get_service_requests(service_request_id=number)
    if output_format == "xml":
        listed = [listed]  # xmltodict gives the single <request> as a dict
    assert [r["service_request_id"] for r in listed] == [number]
    if output_format == "json":  # georeport cannot parse an empty XML list (<service_requests />) itself
        assert client.get_service_requests(status="closed", service_code="water-leak") == []
