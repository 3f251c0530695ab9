"""A simulated fleet of OpenAI-compatible completion servers for tests and benches (SIMULATED, not GPUs)."""

from tests.simfleet.profiles import H200_1B, H200_8B, PROFILES, Profile
from tests.simfleet.server import SimFleet

__all__ = ["H200_1B", "H200_8B", "PROFILES", "Profile", "SimFleet"]
