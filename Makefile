.PHONY: run test lint bench deps

UV ?= uv

deps:
	@bash deploy/local/install-deps.sh

run: deps
	$(UV) run python -m servicekit.localinfra.stack

test: deps
	$(UV) run pytest

lint: deps
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run lint-imports

bench: deps
	$(UV) run python -m bench
