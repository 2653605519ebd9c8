"""Run every benchmark and print its figures."""

from __future__ import annotations

import asyncio

from bench import api_throughput, metrics_middleware, policy_check


def main() -> None:
    policy_check.main()
    asyncio.run(metrics_middleware.main())
    asyncio.run(api_throughput.main())


if __name__ == "__main__":
    main()
