"""The files a new operator or packager reads first agree with pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]


def test_license_file_is_the_mit_license_pyproject_declares(project):
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")

    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text
    assert re.search(r"^Copyright \(c\) \d{4} \S", text, re.MULTILINE)


def test_changelog_keeps_an_unreleased_section_and_the_current_version(project):
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.M)

    assert "keepachangelog.com" in text
    assert releases[0] == ("Unreleased", "")
    assert releases[1][0] == project["version"]
    assert releases[1][1], "a released version carries its date"
    # Every section heading has its link at the bottom.
    for version, _ in releases:
        assert re.search(rf"^\[{re.escape(version)}\]: https://", text, re.M)


def test_project_urls_point_at_the_repository(project):
    urls = project["urls"]
    repository = urls["Repository"]

    assert repository.startswith("https://github.com/")
    assert {"Homepage", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith(repository) for url in urls.values())


def test_classifiers_agree_with_the_license_and_python_versions(project):
    classifiers = project["classifiers"]
    oldest = project["requires-python"].removeprefix(">=")

    # An SPDX license expression replaces the License :: classifiers.
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert f"Programming Language :: Python :: {oldest}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert all(" :: " in c for c in classifiers)
