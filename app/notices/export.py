"""Exporting notices as FollowTheMoney (FtM) entities, for Aleph / OpenAleph and other FtM tools.

A notice's current revision is fetched through the same policy filter as a read (invisible answers
404 like absent), decrypted, audited as `notice.export` (shown in the notice's access log), and
mapped to FtM entities: subjects → Person, assets → the fitting Asset schema, each subject linked to
each asset by an Ownership, and a freeze, seizure or confiscation as a Sanction on the asset. The
mapping table and what FtM has no place for are in the README ("FollowTheMoney export").

Entity ids are stable per notice revision: a SHA-1 of (notice id, revision, role, position), so two
exports of one revision give the same ids and a new revision gives new ones. The ids hide nothing
secret (notice id and revision are routing data) and reveal no content.

This module needs no FtM library: it writes FtM's JSON entity form ({"id", "schema", "properties"})
with values already in FtM's cleaned form; the test suite validates every entity with the
`followthemoney` library.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import pycountry
from sqlalchemy.orm import Session

from app import policy
from app.audit.record import Action
from app.auth.principal import Principal
from app.notices.schemas import Asset, NoticeRead, Subject
from app.notices.service import authored_notice_ids, open_visible
from app.runtime import Runtime

MEDIA_TYPE = "application/x-ndjson"  # JSON lines: one FtM entity per line


class ExportFormat(StrEnum):
    FTM = "ftm"


# FtM property types' length limits (followthemoney `registry.<type>.max_length`): a longer value
# would be cut by Aleph, so it goes into `notes` (free text) instead, whole.
IDENTIFIER_MAX = 64
NAME_MAX = 384

# Subject identifier scheme → Person property; any other scheme is an idNumber.
PERSON_IDENTIFIER = {
    "passport": "passportNumber",
    "national_id": "idNumber",
    "tax_id": "taxNumber",
    "lei": "leiCode",
    "company_number": "registrationNumber",
    "bic": "swiftBic",
}
OTHER_IDENTIFIER = "idNumber"


@dataclass(frozen=True)
class AssetSchema:
    """The FtM schema of an asset type and the property its identifier goes to (None: notes)."""

    schema: str
    identifier: str | None
    label: str


# Notice asset `type` → FtM schema (the portal's vocabulary, app/web/pages/notices.py ASSET_TYPES).
# Any other type is a plain Asset.
ASSET_SCHEMAS = {
    "bank_account": AssetSchema("BankAccount", "accountNumber", "Bank account"),
    "real_estate": AssetSchema("RealEstate", "registrationNumber", "Real estate"),
    "vehicle": AssetSchema("Vehicle", "registrationNumber", "Vehicle"),
    "vessel": AssetSchema("Vessel", "imoNumber", "Vessel"),
    "aircraft": AssetSchema("Airplane", "registrationNumber", "Aircraft"),
    "securities": AssetSchema("Security", "isin", "Securities"),
    "company_shares": AssetSchema("Security", "registrationNumber", "Company shares"),
    "crypto_assets": AssetSchema("CryptoWallet", "publicKey", "Crypto-assets"),
    "cash": AssetSchema("Asset", None, "Cash"),
    "precious_goods": AssetSchema("Asset", None, "Precious goods"),
    "other": AssetSchema("Asset", None, "Other asset"),
}

# Asset statuses that are a measure under an order (or its end): exported as an FtM Sanction on the
# asset. `identified` and `traced` are no measure; they are only in the asset's summary.
MEASURES = {
    "frozen": "Asset freeze",
    "seized": "Seizure",
    "confiscated": "Confiscation",
    "released": "Released from freezing or seizure",
    "returned": "Returned",
}
ENDED = {"released", "returned"}  # the status date ends the measure rather than starting it


@dataclass
class Entity:
    """One FtM entity in its JSON form."""

    id: str
    schema: str
    properties: dict[str, list[str]] = field(default_factory=dict)

    def add(self, prop: str, value: str | None) -> None:
        if value is None or value == "":
            return
        values = self.properties.setdefault(prop, [])
        if value not in values:
            values.append(value)

    def add_identifier(self, prop: str, value: str, what: str) -> None:
        """An identifier property, or the notes when FtM's identifier type is too short for it."""
        if len(value) <= IDENTIFIER_MAX:
            self.add(prop, value)
        else:
            self.add("notes", f"{what}: {value}")

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "schema": self.schema, "properties": self.properties}


@dataclass(frozen=True)
class Export:
    """The entities of one notice revision."""

    notice_id: str
    revision: int
    entities: list[Entity]

    def lines(self) -> Iterator[str]:
        for entity in self.entities:
            yield json.dumps(entity.as_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"


def entity_id(notice_id: str, revision: int, role: str, position: str) -> str:
    """Stable per revision: the same notice revision always gives the same ids."""
    digest = hashlib.sha1(f"arx/ftm|{notice_id}|{revision}|{role}|{position}".encode(),
                          usedforsecurity=False).hexdigest()
    return f"arx-{role}-{digest}"


def ftm_country(alpha3: str | None) -> str | None:
    """FtM countries are ISO 3166-1 alpha-2, lower case."""
    if alpha3 is None:
        return None
    country = pycountry.countries.get(alpha_3=alpha3)
    return country.alpha_2.lower() if country is not None else None


def _name(value: str) -> str:
    return value if len(value) <= NAME_MAX else value[:NAME_MAX - 1] + "…"


def _person(notice: NoticeRead, index: int, subject: Subject, publisher: str) -> Entity:
    person = Entity(entity_id(notice.id, notice.revision, "person", str(index)), "Person")
    person.add("name", subject.name)
    for alias in subject.aliases:
        person.add("alias", alias)
    person.add("birthDate", subject.birth_date.isoformat() if subject.birth_date else None)
    person.add("nationality", ftm_country(subject.nationality))
    for identifier in subject.identifiers:
        prop = PERSON_IDENTIFIER.get(identifier.scheme, OTHER_IDENTIFIER)
        person.add_identifier(prop, identifier.value, identifier.scheme)
    person.add("publisher", publisher)
    return person


def _status_summary(asset: Asset) -> str:
    text = f"ARX status: {asset.status.value}"
    if asset.status_date:
        text += f" on {asset.status_date.isoformat()}"
    if asset.order_reference:
        text += f"; order reference {asset.order_reference}"
    return text


def _asset(notice: NoticeRead, index: int, asset: Asset, publisher: str) -> Entity:
    kind = ASSET_SCHEMAS.get(asset.type, AssetSchema("Asset", None, asset.type.replace("_", " ")))
    entity = Entity(entity_id(notice.id, notice.revision, "asset", str(index)), kind.schema)
    first_line = asset.description.splitlines()[0].strip() if asset.description else ""
    # Every asset gets a name (Vessel and Airplane require one; Aleph shows it as the caption).
    entity.add("name", _name(asset.identifier or first_line or kind.label))
    entity.add("description", asset.description)
    entity.add("country", ftm_country(asset.jurisdiction))
    if asset.identifier:
        prop, value = _identifier_property(asset.type, asset.identifier, kind)
        if prop is None:
            entity.add("notes", f"identifier: {value}")
        else:
            entity.add_identifier(prop, value, "identifier")
    if asset.value is not None:
        entity.add("amount", format(asset.value.amount, "f"))
        entity.add("currency", asset.value.currency)
    entity.add("summary", _status_summary(asset))
    entity.add("publisher", publisher)
    return entity


def _identifier_property(asset_type: str, identifier: str, kind: AssetSchema) -> tuple[str | None, str]:
    """Where an asset's identifier goes (None: the notes), in the form FtM datasets write it."""
    if asset_type == "bank_account" and identifier[:2].isalpha() and identifier[2:4].isdigit():
        return "iban", identifier  # IBAN-shaped: app/notices/schemas.py validated it as an IBAN
    if asset_type == "securities" and not (len(identifier) == 12 and identifier.isalnum()):
        return "registrationNumber", identifier  # schemas.py checked the ISIN-shaped ones
    if asset_type == "vessel" and identifier.isdigit():
        return "imoNumber", f"IMO{identifier}"  # as OpenSanctions writes IMO numbers
    if asset_type == "vessel":
        return "registrationNumber", identifier
    return kind.identifier, identifier


def _sanction(notice: NoticeRead, index: int, asset: Asset, asset_entity: Entity,
              publisher: str) -> Entity | None:
    """A freeze, seizure or confiscation (or its end) as an FtM Sanction on the asset."""
    provisions = MEASURES.get(asset.status.value)
    if provisions is None and not asset.order_reference:
        return None
    sanction = Entity(entity_id(notice.id, notice.revision, "sanction", str(index)), "Sanction")
    sanction.add("entity", asset_entity.id)
    sanction.add("status", asset.status.value)
    sanction.add("provisions", provisions)
    sanction.add("country", ftm_country(asset.jurisdiction))
    if asset.status_date:
        sanction.add("endDate" if asset.status.value in ENDED else "startDate",
                     asset.status_date.isoformat())
    if asset.order_reference:
        sanction.add_identifier("authorityId", asset.order_reference, "order reference")
    sanction.add("publisher", publisher)
    return sanction


def _ownership(notice: NoticeRead, person: Entity, asset_entity: Entity, position: str,
               publisher: str) -> Entity:
    link = Entity(entity_id(notice.id, notice.revision, "ownership", position), "Ownership")
    link.add("owner", person.id)
    link.add("asset", asset_entity.id)
    # The notice names subjects and assets without saying who holds which: the link says so.
    link.add("role", "named with the asset in the same notice")
    link.add("publisher", publisher)
    return link


def notice_entities(notice: NoticeRead) -> list[Entity]:
    """The FtM entities of one decrypted notice revision (pure: no database, no audit)."""
    publisher = f"ARX notice {notice.id} revision {notice.revision} ({notice.author_party})"
    persons = [_person(notice, i, s, publisher) for i, s in enumerate(notice.subjects)]
    assets = [_asset(notice, i, a, publisher) for i, a in enumerate(notice.assets)]
    sanctions = [s for i, (a, e) in enumerate(zip(notice.assets, assets, strict=True))
                 if (s := _sanction(notice, i, a, e, publisher)) is not None]
    links = [_ownership(notice, p, a, f"{i}-{j}", publisher)
             for i, p in enumerate(persons) for j, a in enumerate(assets)]
    return [*persons, *assets, *sanctions, *links]


def export_notice(session: Session, runtime: Runtime, principal: Principal, notice_id: str) -> Export:
    """One notice's current revision as FtM entities: what principal may read (404 otherwise),
    audited as notice.export in the caller's transaction."""
    notice = open_visible(session, runtime, principal, notice_id, Action.NOTICE_EXPORT)
    return Export(notice_id=notice.id, revision=notice.revision, entities=notice_entities(notice))


def export_party_notices(session: Session, runtime: Runtime, principal: Principal,
                         party: str) -> Iterator[Export]:
    """Every notice of principal's own party, oldest first, each fetched, decrypted and audited like
    export_notice as it is consumed; another party (or a role without content) is refused, audited."""
    policy.require(policy.can_export_party_notices(principal, party), principal, Action.NOTICE_EXPORT,
                   detail="only the content roles of a party export its notices")
    notice_ids = authored_notice_ids(session, principal)
    return (export_notice(session, runtime, principal, notice_id) for notice_id in notice_ids)
