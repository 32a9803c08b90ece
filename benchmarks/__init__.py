"""Benchmark suites (registered lazily in ``harness.registry.BUILTIN``) and perf benchmarks."""
