"""`arx user …` commands."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from app.cli.common import JsonOpt, emit, operator, run_in_unit_of_work
from app.users.service import add_user, disable_user

user_app = typer.Typer(help="User accounts.", no_args_is_help=True)


@user_app.command("add")
def user_add(username: str, party: Annotated[str, typer.Option(help="Party code.")],
             role: Annotated[str, typer.Option(help="focal_point | court_investigator | auditor | admin")],
             password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                          help="Read the password from stdin.")] = False,
             totp: Annotated[bool, typer.Option("--totp", help="Enrol TOTP; prints the secret.")] = False,
             email: Annotated[str | None, typer.Option(
                 help="Address for notification e-mails (stored encrypted).")] = None,
             as_json: JsonOpt = False) -> None:
    """Create a user (password from stdin, or prompted)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user, secret = run_in_unit_of_work(lambda s, rt: add_user(s, operator(), rt.envelope, username=username,
                                                              party=party, role=role, password=password,
                                                              totp=totp, email=email))
    doc: dict[str, Any] = {"username": user.username, "party": user.party_code, "role": user.role}
    if secret:
        doc["totp_secret"] = secret
    emit(as_json, doc, f"user {user.username} created" + (f"\nTOTP secret: {secret}" if secret else ""))


@user_app.command("disable")
def user_disable(username: str, as_json: JsonOpt = False) -> None:
    """Disable a user; its tokens stop working at once."""
    user = run_in_unit_of_work(lambda s, rt: disable_user(s, operator(), username))
    emit(as_json, {"username": user.username, "disabled": True}, f"user {user.username} disabled")
