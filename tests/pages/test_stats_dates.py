"""The statistics page's period pickers refuse far dates with a message beside the field, never a 500."""

from http import HTTPStatus

import pytest

from tests.pages.test_stats_page import STATS, signed_in, text_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("query", "field"), [("to=9999-12-31", "to"), ("from=0001-01-01", "from"), ("from=9999-12-31", "from")]
)
def test_a_far_date_is_refused_beside_its_field(community_staff, query, field):
    client = signed_in(community_staff)
    client.cookies["django_language"] = "en"

    response = client.get(f"{STATS}?{query}")

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert text_of(html, f"error-{field}") == "Enter a date between 2000-01-01 and 2099-12-31."
    assert 'max="2099-12-31"' in html


def test_the_far_date_message_is_in_chinese_by_default(community_staff):
    response = signed_in(community_staff).get(f"{STATS}?to=9999-12-31")

    assert text_of(response.content.decode(), "error-to") == "请输入 2000-01-01 至 2099-12-31 之间的日期。"
