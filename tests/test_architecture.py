"""Checks on the layout itself (docs/architecture.md): where shared code lives and who may import what."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from tools.import_picture import picture

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_test_module_imports_a_test_module_or_the_conftest() -> None:
    offenders = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        for module in imported_modules(path):
            if module == "tests.conftest" or module.startswith("tests.test_"):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == [], "shared test helpers belong in tests/support/"


# Key management still lives in app/crypto until app/keys/ lands (issue 13 item 1); nothing else may.
PENDING_MOVE = {"app.crypto.rotation", "app.crypto.cli"}


def test_the_import_picture_has_no_circle_and_few_upward_imports() -> None:
    shown = picture(ROOT)
    assert shown.circles == []
    upward = [(a, b) for a, b in shown.upward if a not in PENDING_MOVE]
    assert len(upward) <= 15, upward
    assert [(a, b) for a, b in shown.crypto_to_features if a not in PENDING_MOVE] == []


def test_the_picture_sees_an_upward_import_and_a_circle(tmp_path: Path) -> None:
    (tmp_path / "app" / "audit").mkdir(parents=True)
    (tmp_path / "app" / "audit" / "__init__.py").write_text("")
    (tmp_path / "app" / "audit" / "models.py").write_text("from app.audit import service\n")
    (tmp_path / "app" / "audit" / "service.py").write_text("from app.audit.models import X\n")
    shown = picture(tmp_path)
    assert shown.circles == [["app.audit.models", "app.audit.service"]]
    assert shown.upward == [("app.audit.models", "app.audit.service")]


# -- every query of notice rows passes through a policy filter -------------------------------------------
NOTICE_MODELS = {"Notice", "NoticeRevision", "NoticeRecipient", "NoticeRevisionRecipient"}
# Selects of notice rows with no policy call in the same statement, each with its reason. Add one only
# with a reason a reviewer accepts; everything else must filter with app/policy.py in the statement.
UNFILTERED = {
    ("app/notices/service.py", "list_notices"): "current revisions of the rows visible_notices returned",
    ("app/notices/service.py", "_within_budget"): "sizes of the rows visible_notices returned",
    ("app/keys/rewrap.py", "_revision_batch"): "key job: rewraps every revision, no caller",
    ("app/keys/reindex.py", "_reindex_batch"): "key job: reindexes every revision, no caller",
    ("app/stats/tasks.py", "_rebuild_batch"):
        "operator job: counts every notice into the statistics aggregates, returns no content",
    ("app/enquiries/matching.py", "confirm_notices"):
        "opens candidates chosen through policy.hidden_notices; returns nothing of them to the caller",
}


def _mentions_notice_model(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id in NOTICE_MODELS for n in ast.walk(node))


def _calls_policy(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "policy"
               for n in ast.walk(node))


def _headers(stmt: ast.stmt) -> list[ast.AST]:
    """What a statement evaluates itself: a compound statement's test or items, not its body."""
    if isinstance(stmt, ast.If | ast.While):
        return [stmt.test]
    if isinstance(stmt, ast.For):
        return [stmt.iter]
    if isinstance(stmt, ast.With):
        return [item.context_expr for item in stmt.items]
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Try):
        return []
    return [stmt]


def unfiltered_notice_selects(root: Path) -> list[tuple[str, str, int]]:
    found = []
    for path in sorted((root / "app").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name == "app/policy.py":
            continue
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for stmt in ast.walk(fn):
                if not isinstance(stmt, ast.stmt) or stmt is fn:
                    continue
                for part in _headers(stmt):
                    selects = [c for c in ast.walk(part) if isinstance(c, ast.Call)
                               and isinstance(c.func, ast.Name) and c.func.id == "select"
                               and any(_mentions_notice_model(a) for a in c.args)]
                    if selects and not _calls_policy(part):
                        found.append((name, fn.name, stmt.lineno))
    return found


def test_every_select_of_notice_rows_passes_through_a_policy_filter() -> None:
    offenders = [f"{name}:{line} in {fn}" for name, fn, line in unfiltered_notice_selects(ROOT)
                 if (name, fn) not in UNFILTERED]
    assert offenders == [], "filter notice rows with app/policy.py (or justify in UNFILTERED)"


def test_the_notice_select_check_catches_an_unfiltered_query(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "leak.py").write_text(
        "def read(session, principal, notice_id):\n"
        "    if session.scalar(select(Notice).where(Notice.id == notice_id)) is None:\n"
        "        return None\n"
        "    return session.scalar(select(Notice).where(policy.visible_notices(principal)))\n")
    assert unfiltered_notice_selects(tmp_path) == [("app/leak.py", "read", 2)]


def test_every_hook_subscriber_is_imported_by_the_application_and_the_cli() -> None:
    """A module that subscribes to a hook is listed in app/features.py, which both entry points import,
    so a subscriber (deconfliction) never silently misses a write because nothing imported it."""
    import app.cli
    import app.main
    from app.enquiries.service import deconflict_notice
    from app.features import SUBSCRIBERS
    from app.notices.service import notice_hooks
    from app.stats.service import count_notice

    assert app.main.features is app.cli.features
    # Matching (under its lock) runs before accounting (row locks on shared statistics).
    assert notice_hooks().index(deconflict_notice) < notice_hooks().index(count_notice)
    listed = {m.__name__ for m in SUBSCRIBERS}
    subscribing = set()
    for path in sorted((ROOT / "app").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module != "app.notices.service" and {"after_notice_written", "before_notice_written"} \
                & imported_names(path):
            subscribing.add(module)
    assert subscribing <= listed, f"add to app/features.py: {sorted(subscribing - listed)}"


def test_notice_hooks_run_by_stage_whatever_the_order_they_were_registered_in() -> None:
    """A subscriber imported before deconfliction still runs after it if it accounts (a deadlock
    otherwise: docs/architecture.md, "Hooks")."""
    from app.notices import service
    from app.notices.service import ACCOUNT, MATCH, after_notice_written, notice_hooks

    def accounts(*_: object) -> None: ...

    def matches(*_: object) -> None: ...

    before = list(service._AFTER_WRITE)
    try:
        after_notice_written(ACCOUNT)(accounts)
        after_notice_written(MATCH)(matches)
        after_notice_written(MATCH)(matches)  # registering twice runs it once
        hooks = notice_hooks()
        assert hooks.count(matches) == 1
        assert hooks.index(matches) < hooks.index(accounts)
        assert all(stage == MATCH for stage, _ in service._AFTER_WRITE[:hooks.index(matches) + 1])
    finally:
        service._AFTER_WRITE[:] = before


def imported_names(path: Path) -> set[str]:
    return {alias.name for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom) for alias in node.names}


def test_every_table_a_feature_declares_for_the_key_jobs_is_registered() -> None:
    """A sealed or term table declared anywhere (app/crypto/columns.py) is listed in app/keys/tables.py,
    so rewrap moves its data keys and retire counts them: an unlisted table would lose its data when the
    key version it depends on is retired."""
    from app.crypto.columns import SealedTable, TermTable
    from app.keys.tables import SEALED_TABLES, TERM_TABLES

    declared = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                   and n.func.id in ("SealedTable", "TermTable") for n in ast.walk(tree)):
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for name, value in vars(module).items():
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, SealedTable | TermTable):
                    declared.append((module.__name__, name, item))
    assert {"totp_secrets", "hit_reasons", "request_messages"} <= {item.name for _, _, item in declared}
    registered = {*SEALED_TABLES, *TERM_TABLES}
    missing = [f"{module}.{name}: {item.name}" for module, name, item in declared if item not in registered]
    assert missing == [], "add to app/keys/tables.py"
