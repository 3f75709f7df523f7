"""Response shapes of the audit API (CONTRACT.md, "Audit"). Hashes are base64."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class EntryOut(BaseModel):
    index: int
    timestamp: datetime
    username: str
    party: str
    role: str
    action: str
    object_id: str | None
    outcome: str
    leaf_hash: str
    leaf_input: str = Field(description=(
        "base64 of the entry's canonical bytes (docs/audit-entry-encoding.md): leaf_hash is "
        "SHA-256(0x00 ‖ these bytes); they hold every field above, and a sealed detail only as ciphertext"))


class EntryPage(BaseModel):
    items: list[EntryOut]
    next: int | None


class CheckpointOut(BaseModel):
    tree_size: int
    root_hash: str
    timestamp: datetime
    key_version: int
    note: str


class AuditKeyOut(BaseModel):
    key_id: str
    version: int
    name: str
    algorithm: str = "Ed25519"
    public_key: str
    vkey: str
    active: bool


class AuditKeyList(BaseModel):
    keys: list[AuditKeyOut]


class InclusionProofOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    proof: list[str]


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    proof: list[str]


class AccessOut(BaseModel):
    timestamp: datetime
    party: str
    role: str
    action: str
    outcome: str
    index: int | None


class AccessLog(BaseModel):
    items: list[AccessOut]
    next_cursor: int | None
