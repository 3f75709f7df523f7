"""`arx export`: a party's own notices as FollowTheMoney entities (JSON lines), for its focal point.

Notice content is never the operator's: an admin never sees it (docs: DESIGN.md, README "Security
model"). So the command acts as a named content-role user of the party (`--as`), who signs in with
their password (and TOTP code) exactly like the API's token endpoint: same lockout, audited as a
login. Each exported notice is then fetched through the same policy filter and audited as
`notice.export` under that user's name, in the notice's access log. See README, "FollowTheMoney export".
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Annotated

import typer

from app.auth.service import authenticate
from app.cli.common import err, runtime_for
from app.notices.export import ExportFormat, export_party_notices


def export(fmt: Annotated[ExportFormat, typer.Option("--format", help="ftm: FollowTheMoney entities.")],
           as_user: Annotated[str, typer.Option(
               "--as", help="The focal point (or Court investigator) of the party exporting.")],
           party: Annotated[str | None, typer.Option(
               help="Party whose own notices to export (default: that user's).")] = None,
           output: Annotated[Path | None, typer.Option(
               help="Write here (replaced only when complete) instead of stdout.")] = None,
           password_stdin: Annotated[bool, typer.Option(
               "--password-stdin", help="Read the user's password from stdin.")] = False,
           otp: Annotated[str | None, typer.Option(help="The user's TOTP code, if enrolled.")] = None,
           ) -> None:
    """Export a party's own notices as FollowTheMoney entities (JSON lines), as one of its users."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True)
    request_id = f"cli-{uuid.uuid4().hex}"
    with runtime_for() as runtime:
        principal, _ = authenticate(runtime, username=as_user, password=password, otp=otp,
                                    request_id=request_id)
        code = party.strip().upper() if party else principal.party
        target = output.resolve() if output is not None else None
        # A file is written beside its target and moved into place after the audit entries commit:
        # a failed export leaves neither a partial file nor entries for reads that did not happen.
        handle = (tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent, delete=False,
                                              prefix=f".{target.name}.", suffix=".part")
                  if target is not None else sys.stdout)
        notices = entities = 0
        try:
            with runtime.db.unit_of_work() as session:
                for result in export_party_notices(session, runtime, principal, code):
                    notices += 1
                    for line in result.lines():
                        entities += 1
                        handle.write(line)
            if target is not None:
                handle.close()
                os.replace(handle.name, target)
        finally:
            if target is not None and not handle.closed:
                handle.close()
            if target is not None and os.path.exists(handle.name):
                os.unlink(handle.name)
    # The summary goes to stderr: stdout may be the export itself.
    where = str(target) if target is not None else "stdout"
    err.print(f"{entities} entities from {notices} notices of {code} written to {where}", soft_wrap=True)
