"""POST /api/v1/search/subjects."""

from fastapi import APIRouter

router = APIRouter(prefix="/search", tags=["search"])
