import argparse
import sys

from bench import event_latency

BENCHMARKS = {"event-latency": event_latency.main}


def run() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="default: all")
    args = parser.parse_args()
    for name in args.names or list(BENCHMARKS):
        print(f"== {name}")
        BENCHMARKS[name]()
    return 0


sys.exit(run())
