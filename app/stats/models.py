"""Running aggregates of notices and their assets: the only place statistics keep what notices hold
encrypted (asset statuses, jurisdictions, currencies and amounts), and only summed per cell."""

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class StatCell(Base):
    """One aggregate cell: what the notices of one party posted in one month contribute to one value of
    one breakdown (``subject`` notice or asset; ``dimension`` kind, paris_paragraph, status,
    jurisdiction; ``currency`` for asset totals, "" otherwise).

    Posting adds a notice's contribution; revising subtracts the previous revision's and adds the new
    one's, in the same transaction. The month is the notice's first posting month (it never moves), so
    every notice counts in exactly one (party, month): summing ``notices`` over parties and months gives
    the number of distinct notices behind a coarser cell, which is what suppression needs.
    The amount total is kept as whole units plus ten-thousandths (the notice schema's precision) in two
    integer columns: exact on SQLite and PostgreSQL, and updated with one atomic upsert."""

    __tablename__ = "stat_cell"

    subject: Mapped[str] = mapped_column(String(8), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    party: Mapped[str] = mapped_column(String(8), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    value: Mapped[str] = mapped_column(String(48), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    items: Mapped[int] = mapped_column(Integer, default=0)  # notices or assets
    notices: Mapped[int] = mapped_column(Integer, default=0)  # distinct notices behind the items
    amount_units: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_fraction: Mapped[int] = mapped_column(BigInteger, default=0)  # ten-thousandths
