"""issues.photo_stash: photos kept across a refused form post, under a signed token, bounded in number and time."""

import time

import pytest
from django.core import signing

from issues.photo_stash import STASH_DIR, STASH_MAX_AGE, photo_stash, photo_stash_drop, photo_stash_sweep, photo_unstash
from issues.photos import photos_clean
from tests.api.test_issues_support import png_file


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def files_in(media) -> list:
    return sorted(p.name for p in (media / STASH_DIR).rglob("*") if p.is_file())


def test_a_token_gives_back_the_same_cleaned_photos(media):
    photos = photos_clean(files=[png_file("a.png"), png_file("b.png", color=(0, 90, 200))])

    token = photo_stash(photos=photos)

    assert photo_unstash(token=token) == photos
    assert files_in(media) == ["0.png", "1.png"]


def test_a_tampered_or_foreign_token_gives_nothing(media):
    token = photo_stash(photos=photos_clean(files=[png_file()]))
    forged = signing.dumps({"id": "../../etc", "photos": [["passwd", 1, 1]]}, salt="another.salt")

    assert photo_unstash(token=token[:-2] + "xx") == []
    assert photo_unstash(token=forged) == []
    assert photo_unstash(token="") == []


def test_an_expired_token_gives_nothing(media, monkeypatch):
    token = photo_stash(photos=photos_clean(files=[png_file()]))
    later = time.time() + STASH_MAX_AGE.total_seconds() + 1
    monkeypatch.setattr(signing.time, "time", lambda: later)

    assert photo_unstash(token=token) == []


def test_drop_removes_the_files(media):
    token = photo_stash(photos=photos_clean(files=[png_file()]))

    photo_stash_drop(token=token)

    assert files_in(media) == []
    assert photo_unstash(token=token) == []


def test_the_sweep_removes_only_stashes_older_than_the_limit(media):
    old = photo_stash(photos=photos_clean(files=[png_file("old.png")]))
    fresh_later = time.time() + STASH_MAX_AGE.total_seconds() + 5

    removed = photo_stash_sweep(now=fresh_later)

    assert removed == 1
    assert files_in(media) == []
    assert photo_unstash(token=old) == []
    photo_stash(photos=photos_clean(files=[png_file("new.png")]))
    assert photo_stash_sweep() == 0
    assert files_in(media) == ["0.png"]
