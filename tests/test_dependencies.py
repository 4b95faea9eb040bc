"""Installing syncd leaves the environment as pip reports it.

caldav 3.x pulls niquests, whose urllib3-future replaces the files of urllib3: `pip list` then
says urllib3 2.x while `import urllib3` loads the fork, and requests, msal and every Graph call
run on it. These tests catch any dependency that does the same, whatever its name.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import warnings

import pytest
from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version


def _closure(root: str, extras: tuple[str, ...] = ("postgres", "test")) -> dict[str, md.Distribution]:
    """syncd and every distribution it installs with its extras, transitively (markers honoured):
    everything `pip install -e '.[test]'` put into this environment."""
    found: dict[str, md.Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in found:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # an optional dependency that is not installed
        found[key] = dist
        wanted = ("", *extras) if name == root else ("",)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in wanted):
                todo.append(req.name)
    return found


def _top_level_modules(dist: md.Distribution) -> set[str]:
    names = set()
    for f in dist.files or []:
        top = f.parts[0]
        if f.suffix == ".py" and len(f.parts) == 1:
            names.add(f.stem)
        elif len(f.parts) == 2 and f.name == "__init__.py":  # a namespace package (google, jaraco) is shared
            names.add(top)
    return {n for n in names if n.isidentifier() and not n.startswith("_")}


def _same_version(module: str, dist: str) -> bool:
    """Equal, a post release (a packaging fix: certifi 2026.10.19.post1 says 2026.10.19) allowed."""
    try:
        a, b = Version(module), Version(dist)
    except InvalidVersion:
        return module == dist
    return (a.epoch, a.release, a.pre, a.dev) == (b.epoch, b.release, b.pre, b.dev)


def test_every_module_a_dependency_ships_is_owned_by_that_distribution_alone() -> None:
    owners = md.packages_distributions()
    dists = _closure("syncd")
    for key, dist in dists.items():
        for module in _top_level_modules(dist):
            others = {o.lower().replace("_", "-") for o in owners.get(module, [])} - {key}
            assert not others, f"{module!r} is installed by {key} and also by {sorted(others)}"


@pytest.mark.slow  # imports every module of every dependency
def test_every_imported_module_reports_the_version_its_distribution_says() -> None:
    checked = []
    for key, dist in _closure("syncd").items():
        if key == "syncd":
            continue
        for module in sorted(_top_level_modules(dist)):
            try:
                mod = importlib.import_module(module)
            except Exception:  # noqa: BLE001 - a module that cannot be imported alone says nothing here
                continue
            with warnings.catch_warnings():  # click and MarkupSafe deprecate the attribute
                warnings.simplefilter("ignore", DeprecationWarning)
                reported = getattr(mod, "__version__", None)
            if isinstance(reported, str):
                assert _same_version(reported, dist.version), \
                    f"import {module} loads version {reported}, but pip lists {dist.metadata['Name']} {dist.version}"
                checked.append(module)
    assert {"urllib3", "requests", "sqlalchemy", "caldav", "pydantic"} <= set(checked)


def test_caldav_talks_http_through_requests_not_a_fork() -> None:
    from caldav.lib import http_sync

    assert http_sync.USE_REQUESTS and not http_sync.USE_NIQUESTS
