"""Reports built from a run directory's result files alone (no model code is imported)."""
