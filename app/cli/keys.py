"""`arx keys …` commands: parse, call the app.keys use cases and jobs, print."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from app.cli.common import JsonOpt, emit, err, fail, operator, out, runtime_for
from app.keys.reindex import reindex_subjects
from app.keys.retire import retire_key
from app.keys.rewrap import rewrap_data_keys
from app.keys.rotate import restore_keyring_backup, rotate_key
from app.keys.status import key_status

keys_app = typer.Typer(help="Key status and rotation.", no_args_is_help=True)

BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Rows per transaction.")]
KindArg = Annotated[str, typer.Argument(help="data | index | signing | audit")]


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    """A rich progress bar on stderr (stdout stays free for --json); yields the callback."""

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, done))

        yield update


@keys_app.command("status")
def status(as_json: JsonOpt = False) -> None:
    """Each kind: active version, every version and how much still depends on it."""

    with runtime_for() as runtime, runtime.db.unit_of_work() as session:
        doc = key_status(session, runtime)
    if as_json:
        emit(True, doc, "")
        return
    table = Table("kind", "version", "state", "dependents", "detail")
    for kind, entry in doc.items():
        for v in entry["versions"]:
            state = "retired" if v["retired"] else ("active" if v["version"] == entry["active"] else "usable")
            extra = ", ".join(f"{k}={val}" for k, val in v.items()
                              if k not in ("version", "dependents", "retired", "created_at"))
            table.add_row(kind, str(v["version"]), state, str(v["dependents"]), extra)
    out.print(table)


@keys_app.command("rotate")
def rotate(kind: KindArg, as_json: JsonOpt = False) -> None:
    """Create a new version of KIND and make it active (running services follow within seconds)."""

    with runtime_for() as runtime, runtime.db.unit_of_work() as session:
        version = rotate_key(session, runtime, operator(), kind)
    emit(as_json, {"kind": kind, "active": version}, f"{kind} key rotated: version {version} is active")


@keys_app.command("rewrap")
def rewrap(batch_size: BatchOpt = 10_000, as_json: JsonOpt = False) -> None:
    """Re-wrap every data key under the active data KEK (resumable; content is never decrypted)."""

    with runtime_for() as runtime, _progress("rewrapping data keys") as progress:
        report = rewrap_data_keys(runtime, operator(), batch_size=batch_size, progress=progress)
    left = sum(report.audit_details_left.values())
    emit(as_json, {"active": report.active, "rewrapped": report.rewrapped,
                   "unreadable": report.unreadable,
                   "audit_details_left": {str(v): n for v, n in report.audit_details_left.items()}},
         f"{report.rewrapped} data key(s) rewrapped under data version {report.active}"
         + (f"; {left} append-only audit detail(s) stay under older versions" if left else ""))
    if report.unreadable:
        fail(f"{report.unreadable} data key(s) could not be unwrapped (retired or damaged) and were left")


@keys_app.command("reindex")
def reindex(batch_size: BatchOpt = 2_000, as_json: JsonOpt = False) -> None:
    """Rebuild the blind index under the active index key (resumable; searches keep answering)."""

    with runtime_for() as runtime, _progress("reindexing notices") as progress:
        report = reindex_subjects(runtime, operator(), batch_size=batch_size, progress=progress)
    emit(as_json, {"active": report.active, "notices": report.notices, "subjects": report.subjects,
                   "requests": report.requests, "standing_enquiries": report.enquiries, "complete": True},
         f"index version {report.active} complete: {report.notices} notice(s), "
         f"{report.subjects} subject(s), {report.requests} request(s) and {report.enquiries} standing "
         "enquiry(ies) indexed in this run")


@keys_app.command("retire")
def retire(kind: KindArg, version: Annotated[str, typer.Argument(help="Version, e.g. 1")],
           abandon_audit_details: Annotated[bool, typer.Option(
               "--abandon-audit-details",
               help="Retire a data version even though append-only audit details use it.")] = False,
           as_json: JsonOpt = False) -> None:
    """Remove an old version's secret material; refused while anything depends on it."""

    with runtime_for() as runtime:
        report = retire_key(runtime, operator(), kind, version,
                            abandon_audit_details=abandon_audit_details)
    doc = {"kind": report.kind, "retired": report.version, "purged_terms": report.purged_terms,
           "abandoned_audit_details": report.abandoned_audit_details}
    emit(as_json, doc, f"{report.kind} version {report.version} retired"
         + (f"; {report.purged_terms} index term(s) deleted" if report.purged_terms else ""))


@keys_app.command("restore-backup")
def restore_backup(as_json: JsonOpt = False) -> None:
    """Bring back the previous keyring generation (keyring.json.bak); the replaced one becomes the backup."""

    with runtime_for() as runtime:
        with runtime.db.unit_of_work() as session:
            restore_keyring_backup(session, runtime, operator())
        ring = runtime.keys.current()
    emit(as_json, {"restored": True, "active": dict(ring.active)},
         "previous keyring restored: active " + ", ".join(f"{k} v{v}" for k, v in ring.active.items()))
