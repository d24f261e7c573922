"""Tooling for development, never needed in production: the Model Studio simulator, the demo world and the benchmarks."""
