"""The layers at the events seam: orgs knows nothing of issues, notifications' rows and delivery read only
issues.models, and no import hidden inside a function papers over a circle."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# notifications' rows, channels and delivery (its pages and API sit above issues and may read more).
NOTIFICATIONS_CORE = ["models", "outbox", "tasks", "delivery", "channels", "messages", "webhooks", "sms", "inbox"]
# The modules of the two circles that imports inside functions used to hide, and the seam built to break them.
NO_LATE_IMPORTS = [
    "orgs/scoping.py",
    "issues/models.py",
    "issues/events.py",
    "issues/audience.py",
    "issues/tasks.py",
    "notifications/models.py",
    "notifications/outbox.py",
    "notifications/tasks.py",
    "notifications/webhooks.py",
]


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Return (module imported, whether at module level) for every import in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
    return found


def _app_modules(app: str) -> list[Path]:
    return [p for p in sorted((ROOT / app).rglob("*.py")) if "migrations" not in p.parts]


def test_orgs_imports_nothing_from_the_apps_above_it():
    above = ("issues", "notifications", "open311")
    wrong = {
        (str(path.relative_to(ROOT)), module)
        for path in _app_modules("orgs")
        for module, _ in _imports(path)
        if module.split(".")[0] in above
    }
    assert wrong == set()


@pytest.mark.parametrize("name", NOTIFICATIONS_CORE)
def test_notifications_rows_and_delivery_read_only_the_issue_models(name):
    modules = {module for module, _ in _imports(ROOT / "notifications" / f"{name}.py")}
    assert {m for m in modules if m.split(".")[0] == "issues"} <= {"issues.models"}


@pytest.mark.parametrize("path", NO_LATE_IMPORTS)
def test_no_import_inside_a_function(path):
    assert [module for module, top in _imports(ROOT / path) if not top] == []


def test_the_issue_models_and_audience_do_not_reach_up_to_the_workflow_or_notifications():
    for path in ("issues/models.py", "issues/audience.py"):
        modules = {module for module, _ in _imports(ROOT / path)}
        assert not {m for m in modules if m.startswith(("issues.workflow", "issues.events", "notifications"))}, path


# The issues app's core: what the workflow, the API and the pages stand on. None of it reads the layers above it.
ISSUES_CORE = ["models", "audience", "events", "personal_data", "arguments", "sla", "selectors", "stats"]
ISSUES_CORE += ["stats_report"]
ISSUES_CORE += ["filters"]
ISSUES_ABOVE = ("issues.api", "issues.views", "issues.desk_views", "issues.report_views", "issues.hotline", "open311")
ISSUES_ABOVE += ("issues.stats_views",)


@pytest.mark.parametrize("name", ISSUES_CORE)
def test_the_issue_core_never_imports_the_api_or_the_pages(name):
    modules = {module for module, _ in _imports(ROOT / "issues" / f"{name}.py")}
    assert {m for m in modules if m.startswith(ISSUES_ABOVE)} == set()


def test_grids_imports_nothing_from_the_apps_above_it():
    above = ("orgs", "issues", "notifications", "open311", "accounts")
    wrong = {
        (str(path.relative_to(ROOT)), module)
        for path in _app_modules("grids")
        for module, _ in _imports(path)
        if module.split(".")[0] in above
    }
    assert wrong == set()


# The page-level apps built on issues: nothing below them imports them. The meetings app stands on issues' reads,
# orgs' scoping and the pages' shared parts; of the issues app only the seed command (an entrypoint) reaches it.
PAGE_APPS = ("meetings",)
BELOW_THE_PAGE_APPS = ["grids", "orgs", "notifications", "open311", "accounts", "issues"]


@pytest.mark.parametrize("app", BELOW_THE_PAGE_APPS)
def test_nothing_below_the_page_level_apps_imports_them(app):
    wrong = {
        (str(path.relative_to(ROOT)), module)
        for path in _app_modules(app)
        if "management" not in path.parts
        for module, _ in _imports(path)
        if module.split(".")[0] in PAGE_APPS
    }
    assert wrong == set()


def test_the_meetings_app_reads_the_issue_core_not_its_pages_or_api():
    modules = {module for path in _app_modules("meetings") for module, _ in _imports(path)}
    assert {m for m in modules if m.startswith(ISSUES_ABOVE)} == set()


# Triage sits above the issues core: it reads issues' models and arguments and the workflow's limits; the core never
# reads it back, and its engine (the classifier) knows nothing of Django or the apps.
def test_the_issue_core_and_workflow_never_import_triage():
    paths = [ROOT / "issues" / f"{name}.py" for name in ISSUES_CORE] + sorted(
        (ROOT / "issues" / "workflow").rglob("*.py")
    )
    wrong = {(str(p.relative_to(ROOT)), m) for p in paths for m, _ in _imports(p) if m.split(".")[0] == "triage"}
    assert wrong == set()


def test_the_triage_engine_imports_no_app_and_no_django():
    modules = {module.split(".")[0] for module, _ in _imports(ROOT / "triage" / "engine.py")}
    assert not modules & {"django", "grids", "orgs", "issues", "notifications", "open311", "accounts", "config"}


def test_triage_below_its_api_and_pages_never_imports_them():
    for name in ("models", "training", "suggest", "tasks", "engine"):
        modules = {module for module, _ in _imports(ROOT / "triage" / f"{name}.py")}
        assert not {m for m in modules if m.startswith(("triage.api", *ISSUES_ABOVE))}, name
