"""The performance suite's report: ``python -m benchmarks.perf.write_benchmarks`` regenerates BENCHMARKS.md."""
