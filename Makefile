.PHONY: run test lint bench deps

# Lazy (=): evaluated after `deps` may have installed uv into ~/.local/bin.
UV = $(shell command -v uv 2>/dev/null || echo $$HOME/.local/bin/uv)

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
