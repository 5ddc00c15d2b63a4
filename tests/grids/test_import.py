"""manage.py import_divisions: the shared and npm formats, idempotence, --prefix, and malformed files refused whole."""

import shutil
import sqlite3
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from grids.importer import DEFAULT_DIR
from grids.models import Area

NPM_FIXTURE = Path(__file__).parent / "data" / "npm"


def import_divisions(*args: str) -> str:
    out = StringIO()
    call_command("import_divisions", *args, "--no-progress", stdout=out)
    return out.getvalue()


def level_counts() -> dict[str, int]:
    return {level: Area.objects.filter(level=level).count() for level in ("district", "street", "community")}


def snapshot() -> list[tuple]:
    return list(Area.objects.order_by("code").values_list("code", "name", "level", "parent_id", "path", "extra"))


@pytest.fixture
def shared_copy(tmp_path) -> Path:
    """Return a writable copy of grids/data/divisions/."""
    target = tmp_path / "divisions"
    shutil.copytree(DEFAULT_DIR, target)
    return target


def edit_line(path: Path, line: int, new: str | None = None, *, append: str | None = None) -> None:
    """Replace 1-based `line` of `path` with `new`, or append a line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if append is not None:
        lines.append(append)
    else:
        lines[line - 1] = new
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.django_db
def test_import_shared_data_creates_5_districts_84_streets_1225_communities():
    out = import_divisions()

    assert level_counts() == {"district": 5, "street": 84, "community": 1225}
    assert "community: 1225 created, 0 updated, 0 unchanged" in out
    zhanggong = Area.objects.get(code="360702")
    assert (zhanggong.name, zhanggong.parent, zhanggong.extra) == (
        "章贡区",
        None,
        {"city_code": "3607", "province_code": "36"},
    )
    assert Area.objects.get(code="360702091005").path == "360702/360702091/360702091005"


@pytest.mark.django_db
def test_second_import_creates_and_updates_nothing():
    import_divisions()
    before = list(Area.objects.order_by("code").values_list("code", "name", "path", "extra", "updated_at"))

    out = import_divisions()

    assert level_counts() == {"district": 5, "street": 84, "community": 1225}
    assert "0 created, 0 updated, 1314 unchanged." in out
    assert list(Area.objects.order_by("code").values_list("code", "name", "path", "extra", "updated_at")) == before


@pytest.mark.django_db
def test_every_path_is_the_chain_of_parent_codes():
    import_divisions()
    by_id = {pk: (code, parent_id) for pk, code, parent_id in Area.objects.values_list("pk", "code", "parent_id")}

    for pk, path in Area.objects.values_list("pk", "path"):
        chain = []
        while pk is not None:
            code, pk = by_id[pk]
            chain.insert(0, code)
        assert path == "/".join(chain)


@pytest.mark.django_db
def test_every_parent_is_one_level_up_and_a_prefix_of_the_code():
    import_divisions()

    for area in Area.objects.exclude(level="district").select_related("parent"):
        assert (area.level, area.parent.level) in {("street", "district"), ("community", "street")}
        assert area.code.startswith(area.parent.code)


@pytest.mark.django_db
def test_prefix_360702_imports_only_that_district():
    out = import_divisions("--prefix", "360702")

    assert list(Area.objects.filter(level="district").values_list("code", flat=True)) == ["360702"]
    assert not Area.objects.exclude(code__startswith="360702").exists()
    assert level_counts() == {"district": 1, "street": 17, "community": 229}
    assert "0 updated" in out


@pytest.mark.django_db
def test_prefix_then_full_import_adds_the_rest_and_keeps_what_was_there():
    import_divisions("--prefix", "360702")

    out = import_divisions()

    assert level_counts() == {"district": 5, "street": 84, "community": 1225}
    assert "district: 4 created, 0 updated, 1 unchanged" in out


@pytest.mark.django_db
def test_changed_name_in_the_file_updates_that_area_only(shared_copy):
    import_divisions("--dir", str(shared_copy))
    edit_line(shared_copy / "communities.csv", 2, "360702001001,西津路社区,360702001,360702")

    out = import_divisions("--dir", str(shared_copy))

    assert "community: 0 created, 1 updated, 1224 unchanged" in out
    assert Area.objects.get(code="360702001001").name == "西津路社区"


@pytest.mark.django_db
def test_names_with_backslashes_tabs_and_quotes_arrive_unchanged(shared_copy):
    odd = 'A\\B\tC "D", E\\N'
    quoted = odd.replace('"', '""')
    edit_line(shared_copy / "communities.csv", 2, f'360702001001,"{quoted}",360702001,360702')

    import_divisions("--dir", str(shared_copy))

    assert Area.objects.get(code="360702001001").name == odd


@pytest.mark.django_db
def test_npm_format_fixture_imports_with_city_and_province_codes():
    out = import_divisions("--format", "npm", "--dir", str(NPM_FIXTURE))

    assert level_counts() == {"district": 2, "street": 3, "community": 6}
    assert "0 created" not in out.splitlines()[-1]
    assert Area.objects.get(code="370102").extra == {"city_code": "3701", "province_code": "37"}
    assert Area.objects.get(code="360702091001").path == "360702/360702091/360702091001"
    assert Area.objects.get(code="360702091001").name == "金岭路社区居委会"


@pytest.mark.django_db
def test_npm_then_shared_import_keeps_the_names_of_the_common_areas():
    import_divisions("--format", "npm", "--dir", str(NPM_FIXTURE / "dist"))  # the dist/ folder itself is accepted
    before = {code: name for code, name in Area.objects.values_list("code", "name")}

    import_divisions()

    after = {code: name for code, name in Area.objects.values_list("code", "name")}
    # The shared files are a subset of the national ones, with the same names.
    assert {code: after[code] for code in before} == before
    assert level_counts() == {"district": 5, "street": 84, "community": 1225}


MALFORMED = [
    pytest.param("districts.csv", 1, "code,name,city,province_code", "districts.csv line 1: header", id="bad-header"),
    pytest.param(
        "streets.csv",
        3,
        "36070200,赣江街道,360702",
        "streets.csv line 3: code '36070200' has 8 digits",
        id="code-length",
    ),
    pytest.param(
        "communities.csv",
        5,
        "36070200100X,某居委会,360702001,360702",
        "communities.csv line 5: code '36070200100X' is not all digits",
        id="non-digit-code",
    ),
    pytest.param(
        "communities.csv",
        7,
        "360702999001,某居委会,360702999,360702",
        "communities.csv line 7: code 360702999001: parent street_code '360702999' is not in the import",
        id="missing-parent",
    ),
    pytest.param(
        "communities.csv",
        None,
        "360702001002,新赣南路居委会,360702001,360702",
        "communities.csv line 1227: duplicate code 360702001002 (first at",
        id="duplicate-code",
    ),
    pytest.param(
        "streets.csv",
        4,
        "360702003,南外街道,360702,extra",
        "streets.csv line 4: 4 columns; expected 3",
        id="column-count",
    ),
    pytest.param(
        "communities.csv",
        9,
        "360702001008,某居委会,360702001,370102",
        "communities.csv line 9: code 360702001008 does not start with its district_code '370102'",
        id="inconsistent-ancestor",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("file", "line", "text", "message"), MALFORMED)
def test_malformed_file_is_refused_naming_the_line_and_writes_nothing(shared_copy, file, line, text, message):
    import_divisions("--prefix", "360702")  # something to leave untouched
    edit_line(shared_copy / "districts.csv", 2, "360702,章贡区(改),3607,36")  # would be an update
    if line is None:
        edit_line(shared_copy / file, 0, append=text)
    else:
        edit_line(shared_copy / file, line, text)
    before = snapshot()

    with pytest.raises(CommandError) as refused:
        import_divisions("--dir", str(shared_copy))

    assert message in str(refused.value)
    assert str(shared_copy / file) in str(refused.value)
    assert "Nothing was imported" in str(refused.value)
    assert snapshot() == before


@pytest.fixture
def npm_copy(tmp_path) -> Path:
    target = tmp_path / "package"
    shutil.copytree(NPM_FIXTURE, target)
    return target


@pytest.mark.django_db
def test_npm_village_row_with_a_bad_code_is_refused_naming_the_row(npm_copy):
    db = sqlite3.connect(npm_copy / "dist" / "data.sqlite")
    db.execute("UPDATE village SET code = '3607020910' WHERE code = '360702091002'")
    db.commit()
    db.close()

    with pytest.raises(CommandError) as refused:
        import_divisions("--format", "npm", "--dir", str(npm_copy))

    assert "data.sqlite table village row 2: code '3607020910' has 10 digits" in str(refused.value)
    assert Area.objects.count() == 0


@pytest.mark.django_db
def test_npm_village_table_without_its_street_column_is_refused(npm_copy):
    db = sqlite3.connect(npm_copy / "dist" / "data.sqlite")
    db.execute("ALTER TABLE village RENAME COLUMN streetCode TO street")
    db.commit()
    db.close()

    with pytest.raises(CommandError) as refused:
        import_divisions("--format", "npm", "--dir", str(npm_copy))

    assert "data.sqlite table village: missing column(s) streetCode" in str(refused.value)
    assert Area.objects.count() == 0


@pytest.mark.django_db
def test_missing_file_is_refused(shared_copy):
    (shared_copy / "streets.csv").unlink()

    with pytest.raises(CommandError) as refused:
        import_divisions("--dir", str(shared_copy))

    assert "streets.csv" in str(refused.value)
    assert Area.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", ["3607020", "36x7", "3"])
def test_prefix_that_is_not_a_province_city_or_district_code_is_refused(prefix):
    with pytest.raises(CommandError) as refused:
        import_divisions("--prefix", prefix)

    assert "--prefix" in str(refused.value)
    assert Area.objects.count() == 0


@pytest.mark.django_db
def test_npm_format_needs_a_directory():
    with pytest.raises(CommandError) as refused:
        import_divisions("--format", "npm")

    assert "--dir" in str(refused.value)
    assert Area.objects.count() == 0


@pytest.mark.django_db
def test_existing_area_with_another_path_is_refused_and_nothing_is_written():
    import_divisions("--prefix", "360702")
    Area.objects.filter(code="360702001").update(path="360702/360702999/360702001")
    before = snapshot()

    with pytest.raises(CommandError) as refused:
        import_divisions()

    assert "Area 360702001 exists with path '360702/360702999/360702001'" in str(refused.value)
    assert snapshot() == before
