"""Working-day overrides (CalendarDay): read before chinesecalendar, cached per process, loaded from a CSV file."""

import logging
from datetime import date, datetime, timedelta
from http import HTTPStatus
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from issues import sla, workflow
from issues.models import CalendarDay, Issue
from issues.sla import LOCAL_TZ, add_workdays, calendar_invalidate, deadlines_for, is_workday
from tests.factories import UserFactory, issue_in_status

pytestmark = pytest.mark.django_db

CATEGORY = SimpleNamespace(
    response_hours=24, resolution_workdays=5, urgent_response_hours=2, urgent_resolution_workdays=1
)
# A made-up Spring Festival 2027 schedule for the tests (the State Council has not published the real one):
# Mon 8 – Fri 12 Feb off, Sat 20 Feb worked.
SPRING_2027 = """date,is_workday,note
2027-02-08,false,春节 (test)
2027-02-09,false,春节 (test)
2027-02-10,false,春节 (test)
2027-02-11,false,春节 (test)
2027-02-12,false,春节 (test)
2027-02-20,true,调休 (test)
"""


def local(y, m, d, hh=15, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


def csv_file(tmp_path, text: str, name="days.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def snapshot() -> list[tuple]:
    return list(CalendarDay.objects.order_by("date").values_list("date", "is_workday", "note", "updated_at"))


# --- is_workday and deadlines ----------------------------------------------------------------------------------------


def test_an_override_makes_a_holiday_a_working_day_and_a_working_day_a_day_off():
    national_day, monday = date(2026, 10, 1), date(2026, 11, 16)
    assert (is_workday(national_day), is_workday(monday)) == (False, True)

    CalendarDay.objects.create(date=national_day, is_workday=True, note="test")
    CalendarDay.objects.create(date=monday, is_workday=False, note="test")
    assert (is_workday(national_day), is_workday(monday)) == (True, False)

    CalendarDay.objects.all().delete()
    assert (is_workday(national_day), is_workday(monday)) == (False, True)


def test_an_override_flips_a_day_of_a_year_chinesecalendar_does_not_cover():
    new_year, saturday = date(2027, 1, 1), date(2027, 1, 9)  # a Friday and a Saturday
    assert (is_workday(new_year), is_workday(saturday)) == (True, False)  # Monday to Friday

    CalendarDay.objects.create(date=new_year, is_workday=False, note="元旦")
    day = CalendarDay.objects.create(date=saturday, is_workday=True, note="调休 (test)")
    assert (is_workday(new_year), is_workday(saturday)) == (False, True)

    day.is_workday = False
    day.save()
    assert is_workday(saturday) is False


def test_a_deadline_crossing_an_overridden_2027_new_years_day_moves_a_day():
    start = local(2026, 12, 28, 10)  # Monday
    assert deadlines_for(category=CATEGORY, urgent=False, start=start)[1] == local(2027, 1, 4, 10)
    assert add_workdays(start=local(2026, 12, 31), workdays=2) == local(2027, 1, 4)

    CalendarDay.objects.create(date=date(2027, 1, 1), is_workday=False, note="元旦")

    # Tue 29, Wed 30, Thu 31, (Fri 1 off), Mon 4, Tue 5.
    assert deadlines_for(category=CATEGORY, urgent=False, start=start)[1] == local(2027, 1, 5, 10)
    assert add_workdays(start=local(2026, 12, 31), workdays=2) == local(2027, 1, 5)


def test_deadlines_follow_a_loaded_spring_festival_schedule_with_a_worked_saturday(tmp_path):
    assert add_workdays(start=local(2027, 2, 4), workdays=3) == local(2027, 2, 9)
    assert add_workdays(start=local(2027, 2, 18), workdays=2) == local(2027, 2, 22)

    call_command("load_calendar_days", csv_file(tmp_path, SPRING_2027), stdout=None)

    assert add_workdays(start=local(2027, 2, 4), workdays=3) == local(2027, 2, 16)  # Fri 5, Mon 15, Tue 16
    assert add_workdays(start=local(2027, 2, 18), workdays=2) == local(2027, 2, 20)  # Fri 19, Sat 20 (worked)


def test_an_extension_through_the_workflow_skips_an_overridden_2027_holiday(
    territory, resident, community_staff, category, chengguan_staff, street_officer
):
    issue = issue_in_status(
        "in_progress",
        reporter=resident,
        place=territory["building"],
        triage=community_staff,
        category=category,
        handler=chengguan_staff,
    )
    Issue.objects.filter(pk=issue.pk).update(resolution_due_at=local(2026, 12, 31))
    CalendarDay.objects.create(date=date(2027, 1, 1), is_workday=False, note="元旦")

    issue = workflow.issue_extend(issue=Issue.objects.get(pk=issue.pk), actor=street_officer, workdays=2)

    issue.refresh_from_db()
    assert issue.resolution_due_at == local(2027, 1, 5)  # Mon 4, Tue 5 (Mon–Fri alone: Fri 1, Mon 4)


def test_the_fallback_still_warns_for_a_year_without_overrides_and_not_for_one_with_them(caplog):
    sla._warn_uncovered_year.cache_clear()
    CalendarDay.objects.create(date=date(2027, 1, 1), is_workday=False, note="元旦")
    with caplog.at_level(logging.WARNING, logger="issues.sla"):
        assert is_workday(date(2027, 1, 4)) is True  # 2027 has an override: its other days are Mon–Fri, quietly
        assert is_workday(date(2031, 1, 3)) is True  # 2031 has none: Mon–Fri, with a warning
        assert is_workday(date(2031, 1, 4)) is False
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "2031" in m] and "load_calendar_days" in messages[0]
    assert not [m for m in messages if "2027" in m]
    assert len(messages) == 1


def test_a_change_by_another_process_is_seen_after_the_check_interval(settings):
    saturday = date(2027, 1, 9)
    day = CalendarDay.objects.create(date=saturday, is_workday=False)
    settings.GRIDDESK_CALENDAR_CHECK_SECONDS = 3600
    assert is_workday(saturday) is False
    # Another process changes it: no signal reaches this one.
    CalendarDay.objects.filter(pk=day.pk).update(is_workday=True, updated_at=timezone.now() + timedelta(seconds=1))
    assert is_workday(saturday) is False  # cached until the next check

    settings.GRIDDESK_CALENDAR_CHECK_SECONDS = 0
    assert is_workday(saturday) is True

    with connection.cursor() as cursor:  # another process deletes it: no signal here, but the count changes
        cursor.execute(f"DELETE FROM {CalendarDay._meta.db_table}")
    assert is_workday(saturday) is False  # back to Monday to Friday


def test_calendar_invalidate_reads_the_rows_again_at_once(settings):
    settings.GRIDDESK_CALENDAR_CHECK_SECONDS = 3600
    saturday = date(2027, 1, 9)
    assert is_workday(saturday) is False
    CalendarDay.objects.bulk_create([CalendarDay(date=saturday, is_workday=True)])  # bulk: no signal
    assert is_workday(saturday) is False

    calendar_invalidate()

    assert is_workday(saturday) is True


def test_a_cached_lookup_costs_no_query(django_assert_num_queries):
    CalendarDay.objects.create(date=date(2027, 1, 1), is_workday=False)
    is_workday(date(2027, 1, 1))
    with django_assert_num_queries(0):
        assert add_workdays(start=local(2026, 12, 31), workdays=20) == local(2027, 1, 29)


# --- load_calendar_days ----------------------------------------------------------------------------------------------


def test_load_adds_the_days_and_a_second_run_changes_nothing(tmp_path, capsys):
    path = csv_file(tmp_path, SPRING_2027)

    call_command("load_calendar_days", path)
    first = snapshot()
    call_command("load_calendar_days", path)

    assert [(d, w, n) for d, w, n, _ in first] == [
        (date(2027, 2, 8), False, "春节 (test)"),
        (date(2027, 2, 9), False, "春节 (test)"),
        (date(2027, 2, 10), False, "春节 (test)"),
        (date(2027, 2, 11), False, "春节 (test)"),
        (date(2027, 2, 12), False, "春节 (test)"),
        (date(2027, 2, 20), True, "调休 (test)"),
    ]
    assert snapshot() == first  # updated_at untouched too
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "6 dates from 2027-02-08 to 2027-02-20: 6 added, 0 updated, 0 unchanged.",
        "6 dates from 2027-02-08 to 2027-02-20: 0 added, 0 updated, 6 unchanged.",
    ]


def test_load_updates_a_changed_day_and_keeps_days_not_in_the_file(tmp_path, capsys):
    CalendarDay.objects.create(date=date(2027, 1, 1), is_workday=False, note="元旦")
    CalendarDay.objects.create(date=date(2027, 2, 20), is_workday=False, note="old")

    text = "\ufeff# made-up schedule\n\n2027-02-20,班,调休\n2027-02-21,休\n"  # BOM, comment, blank line, no header
    call_command("load_calendar_days", csv_file(tmp_path, text))

    assert [(d, w, n) for d, w, n, _ in snapshot()] == [
        (date(2027, 1, 1), False, "元旦"),
        (date(2027, 2, 20), True, "调休"),
        (date(2027, 2, 21), False, ""),
    ]
    assert "1 added, 1 updated, 0 unchanged" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("date,is_workday,note\n2027-01-01,false\n2027-13-01,false\n", "line 3: date '2027-13-01' does not exist"),
        ("2027-01-01,false\n2027/01/02,false\n", "line 2: date '2027/01/02' is not YYYY-MM-DD"),
        ("2027-01-01,false\n2027-01-02,maybe\n", "line 2: is_workday 'maybe' is not one of"),
        ("2027-01-01,false\n2027-01-02\n", "line 2: expected 2 or 3 columns"),
        ("2027-01-01,false,a,b\n", "line 1: expected 2 or 3 columns"),
        ("2027-01-01,false\n2027-01-01,true\n", "line 2: 2027-01-01 is already on line 1"),
        ("2027-01-01,false," + "x" * 201 + "\n", "line 1: note is longer than 200 characters"),
        ("date,workday\n2027-01-01,false\n", "line 1: the header must be date,is_workday,note"),
        ("date,is_workday,note\n", "the file has no dates"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line_and_nothing_is_written(tmp_path, text, error):
    CalendarDay.objects.create(date=date(2027, 1, 1), is_workday=True, note="before")
    before = snapshot()

    with pytest.raises(CommandError) as exc:
        call_command("load_calendar_days", csv_file(tmp_path, text))

    assert "Nothing was loaded" in str(exc.value)
    assert error in str(exc.value)
    assert snapshot() == before
    assert is_workday(date(2027, 1, 1)) is True


def test_every_bad_line_is_named_at_once(tmp_path):
    with pytest.raises(CommandError) as exc:
        call_command("load_calendar_days", csv_file(tmp_path, "2027-01-01,x\n2027-01-02,false\n2027-02-30,true\n"))
    assert "line 1:" in str(exc.value) and "line 3:" in str(exc.value) and "line 2:" not in str(exc.value)
    assert CalendarDay.objects.count() == 0


def test_a_missing_or_non_utf8_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("load_calendar_days", tmp_path / "missing.csv")
    path = tmp_path / "gbk.csv"
    path.write_bytes("2027-01-01,false,元旦\n".encode("gbk"))
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("load_calendar_days", path)
    assert CalendarDay.objects.count() == 0


# --- admin -----------------------------------------------------------------------------------------------------------


def test_the_admin_lists_the_overrides_and_an_edit_there_takes_effect(client):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    day = CalendarDay.objects.create(date=date(2027, 1, 1), is_workday=False, note="元旦 2027")
    CalendarDay.objects.create(date=date(2027, 2, 20), is_workday=True, note="春节调休 (test)")

    response = client.get(reverse("admin:issues_calendarday_changelist"))

    assert response.status_code == HTTPStatus.OK
    assert [d.date for d in response.context["cl"].result_list] == [date(2027, 2, 20), date(2027, 1, 1)]
    assert "元旦 2027" in response.content.decode() and "春节调休 (test)" in response.content.decode()

    response = client.post(
        reverse("admin:issues_calendarday_change", args=[day.pk]),
        {"date": "2027-01-01", "is_workday": "on", "note": "元旦 2027"},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert is_workday(date(2027, 1, 1)) is True
