"""Data readers: one module per source."""
