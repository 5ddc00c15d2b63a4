"""Both catalogues are complete: every string the code marks for translation has a Chinese translation, none fuzzy.

The test extracts the strings as a translator would (`makemessages` on a copy of the source, so the repository is
left as it is) and reads the resulting catalogues: an untranslated or fuzzy entry names itself in the failure.
English is the source language, so its catalogue is the msgids themselves.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
# The project's own apps (those of INSTALLED_APPS that live in this repository), its templates and catalogues.
SOURCES = [
    *(app for app in settings.INSTALLED_APPS if (ROOT / app).is_dir()),
    "config",
    "templates",
    "locale",
    "manage.py",
]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> list[tuple[Path, Path]]:
    if shutil.which("xgettext") is None:
        pytest.fail("GNU gettext is missing (apt-get install gettext): .ci/run installs it")
    copy = tmp_path_factory.mktemp("catalogue")
    for name in dict.fromkeys(SOURCES):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
        else:
            shutil.copy2(source, copy / name)
    for domain in ("django", "djangojs"):
        done = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "makemessages",
                "-l",
                "zh_Hans",
                "-d",
                domain,
                "--no-obsolete",
                "-i",
                "static",
            ],
            cwd=copy,
            capture_output=True,
            text=True,
            timeout=300,
            env={"DJANGO_SETTINGS_MODULE": "config.settings.test", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy)},
        )
        assert done.returncode == 0, done.stderr
    return [(po, po.relative_to(copy)) for po in sorted(copy.glob("**/locale/zh_Hans/LC_MESSAGES/*.po"))]


def _entries(po: Path):
    """Yield (msgid, msgstr, flags) of each entry of a .po file (plural forms: the first msgstr)."""
    entry = {"flags": "", "msgid": None, "msgstr": None}
    field = None
    for line in po.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if entry["msgid"]:
                yield entry["msgid"], entry["msgstr"] or "", entry["flags"]
            entry, field = {"flags": "", "msgid": None, "msgstr": None}, None
        elif line.startswith("#,"):
            entry["flags"] += line
        elif line.startswith("#"):
            continue
        elif line.startswith(("msgid ", "msgid_plural ", "msgstr ", "msgstr[0] ", "msgctxt ")):
            key, _, value = line.partition(" ")
            field = {"msgid": "msgid", "msgstr": "msgstr", "msgstr[0]": "msgstr"}.get(key)
            if field and entry[field] is None:
                entry[field] = value.strip()[1:-1]
            else:
                field = None
        elif line.startswith('"') and field:
            entry[field] += line.strip()[1:-1]


def test_every_marked_string_has_a_chinese_translation_and_none_is_fuzzy(extracted):
    missing, fuzzy = [], []
    for po, name in extracted:
        for msgid, msgstr, flags in _entries(po):
            if "fuzzy" in flags:
                fuzzy.append(f"{name}: {msgid!r}")
            elif not msgstr:
                missing.append(f"{name}: {msgid!r}")
    assert not fuzzy, f"{len(fuzzy)} fuzzy entries:\n" + "\n".join(fuzzy)
    assert not missing, f"{len(missing)} untranslated entries:\n" + "\n".join(missing)
