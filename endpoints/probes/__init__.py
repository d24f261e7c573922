"""Probing on a schedule: dispatch, the runner that feeds the engine, results, runs and the board."""
