"""ARX — Asset Recovery eXchange."""
