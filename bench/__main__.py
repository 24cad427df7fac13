import argparse
import sys

from bench import (
    billing_run,
    bulk_import,
    event_latency,
    event_throughput,
    gateway_overhead,
    idle_cpu,
    issue_contention,
    payments_api,
    payments_ceiling,
    pg_statements,
    time_entry_api,
)

BENCHMARKS = {
    "event-latency": event_latency.main,
    "event-throughput": event_throughput.main,
    "time-entry-api": time_entry_api.main,
    "bulk-import": bulk_import.main,
    "gateway-overhead": gateway_overhead.main,
    "idle-cpu": idle_cpu.main,
    "billing-run": billing_run.main,
    "issue-contention": issue_contention.main,
    "payments-api": payments_api.main,
    "payments-ceiling": payments_ceiling.main,
}


def run() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="default: all")
    args = parser.parse_args()
    pg_statements.preload()
    for name in args.names or list(BENCHMARKS):
        print(f"== {name}")
        BENCHMARKS[name]()
    return 0


sys.exit(run())
