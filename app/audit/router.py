"""Read-only audit endpoints."""

from fastapi import APIRouter

router = APIRouter(tags=["audit"])
