"""`python -m tests.simfleet --profile h200-8b --endpoints 4`: a simulated fleet (SIMULATED) until Ctrl-C."""

from __future__ import annotations

import argparse
import time

from tests.simfleet.profiles import PROFILES
from tests.simfleet.server import SimFleet


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.simfleet", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="h200-8b")
    parser.add_argument("--endpoints", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with SimFleet(args.profile, args.endpoints, seed=args.seed) as fleet:
        print(",".join(fleet.urls), flush=True)  # the INSTRUCTFORGE_ENDPOINTS value
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
