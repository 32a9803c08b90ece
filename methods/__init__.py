"""Training methods, one package each. Registered lazily in ``harness.registry.BUILTIN``."""
