#!/usr/bin/env bash
# Installs what `make run` and `make test` need on a fresh Debian machine, and only what is
# missing: PostgreSQL server binaries, librdkafka (the mock Kafka broker), the Pango, HarfBuzz
# and font packages WeasyPrint (invoice PDFs) loads, pip, uv and the venv.
set -euo pipefail

pg_bin="${BILLSTREAM_PG_BIN:-/usr/lib/postgresql/15/bin}"
need_apt=()
[ -x "$pg_bin/postgres" ] || need_apt+=(postgresql)
ldconfig -p 2>/dev/null | grep -q 'librdkafka.so.1 ' || need_apt+=(librdkafka1)
command -v runuser >/dev/null || need_apt+=(util-linux)
ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so.0 ' || need_apt+=(libpango-1.0-0)
ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0 ' || need_apt+=(libpangoft2-1.0-0)
ldconfig -p 2>/dev/null | grep -q 'libharfbuzz.so.0 ' || need_apt+=(libharfbuzz0b)
# Optional for WeasyPrint today (it warns and subsets fonts in Python), required in later ones.
ldconfig -p 2>/dev/null | grep -q 'libharfbuzz-subset.so.0 ' || need_apt+=(libharfbuzz-subset0)
# PDFs embed installed fonts only (no web fonts); without any, text cannot be laid out.
command -v fc-list >/dev/null || need_apt+=(fontconfig)
[ -n "$(fc-list 2>/dev/null)" ] || need_apt+=(fonts-dejavu-core)
command -v uv >/dev/null || python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: ${need_apt[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
  # The package may start its own cluster on 5432 (with or without systemd); Billstream
  # runs a private one, so stop it.
  $sudo systemctl disable --now postgresql >/dev/null 2>&1 || true
  command -v pg_ctlcluster >/dev/null && { $sudo pg_ctlcluster 15 main stop >/dev/null 2>&1 || true; }
fi
export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null; then
  # Debian's system Python is externally managed (PEP 668): fall back to a user install.
  python3 -m pip install --quiet uv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages uv
fi
uv sync --frozen --quiet
