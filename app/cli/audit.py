"""`arx audit …` commands."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.audit.sequencer import TreeStateError, seal_pending
from app.audit.service import latest_checkpoint
from app.audit.verify import verify_log
from app.cli.common import JsonOpt, emit, fail, runtime_for

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify(since_checkpoint: Annotated[Path | None, typer.Option(
               "--since-checkpoint", exists=True, dir_okay=False, readable=True,
               help="A checkpoint note saved earlier (`arx audit checkpoint`): the log must extend it.")]
           = None,
           as_json: JsonOpt = False) -> None:
    """Recompute every leaf, checkpoint root and signature; exit 0 when intact, else name the first bad."""
    saved = since_checkpoint.read_text(encoding="utf-8") if since_checkpoint else None
    with runtime_for() as runtime:
        report = verify_log(runtime, saved_note=saved)
    if as_json:
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
    first = report.first_bad
    if first is not None:
        fail(f"audit log does not verify: first bad entry: {first.message()}")
    if not as_json:
        rate = report.leaves / report.seconds if report.seconds else 0.0
        typer.echo(f"audit log intact: {report.leaves} entries, {report.checkpoints} checkpoints, "
                   f"tree size {report.tree_size}, {report.unsealed} awaiting sealing "
                   f"({report.seconds:.2f} s, {rate:,.0f} entries/s)")


@audit_app.command("checkpoint")
def checkpoint(as_json: JsonOpt = False) -> None:
    """Print the latest signed checkpoint note, for a party to keep and check the log against later."""
    with runtime_for() as runtime, runtime.db.unit_of_work() as session:
        latest = latest_checkpoint(session)
        if latest is None:
            fail("no checkpoint yet: nothing has been sealed")
            return
        if as_json:
            sys.stdout.write(json.dumps({
                "tree_size": latest.tree_size, "root_hash": base64.b64encode(latest.root_hash).decode(),
                "timestamp": latest.created_at.isoformat(), "key_version": latest.key_version,
                "note": latest.note}) + "\n")
        else:
            sys.stdout.write(latest.note)


@audit_app.command("seal")
def seal(as_json: JsonOpt = False) -> None:
    """Seal entries waiting for a tree position now (a running service does this by itself)."""
    with runtime_for() as runtime:
        try:
            count = seal_pending(runtime)
        except TreeStateError as exc:
            fail(f"{exc}; run `arx audit verify`")
            return
    emit(as_json, {"sealed": count}, f"{count} entries sealed")
