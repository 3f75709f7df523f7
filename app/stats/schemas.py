"""Statistics answers: `{"rows": [...], "suppressed": N}` (docs/statistics.md)."""

from pydantic import BaseModel

Cell = str | int | float | None


class StatsTable(BaseModel):
    """The rows of one breakdown; `suppressed` counts the platform cells withheld as too small."""

    rows: list[dict[str, Cell]]
    suppressed: int
