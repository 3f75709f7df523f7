"""`python -m app.cli …`, the same as the `arx` console script."""

from app.cli import main

main()
