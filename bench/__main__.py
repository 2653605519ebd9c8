"""Run every benchmark and print its figures: `make bench` (or `python -m bench`)."""

from __future__ import annotations

import asyncio
import sys

USAGE = """usage: python -m bench

Prints: content-policy checks per second; request throughput with and without request
metrics (needs wrk and the bench extra: pip install -e '.[bench]'); the all-in-one service's
request rates on SQLite. Takes about two minutes. `make bench` installs what it needs."""


def main() -> None:
    if any(argument in ("-h", "--help") for argument in sys.argv[1:]):
        print(USAGE)
        return
    from bench import api_throughput, metrics_middleware, policy_check

    policy_check.main()
    asyncio.run(metrics_middleware.main())
    asyncio.run(api_throughput.main())


if __name__ == "__main__":
    main()
