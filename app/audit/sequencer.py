"""The audit sequencer: assigns tree positions to committed entries and signs checkpoints."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.runtime import Runtime


@asynccontextmanager
async def run_sequencer(runtime: Runtime) -> AsyncIterator[None]:
    yield
