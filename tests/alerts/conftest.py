from tests.probes.conftest import probed, sim  # noqa: F401  (the simulator and its endpoint)
