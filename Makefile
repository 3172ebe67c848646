# Web4 Runtime: the one task runner. `make help` lists the targets.
# Every target creates .venv and builds the Rust extension when needed, so a fresh clone
# needs nothing installed by hand beyond the Rust toolchain and CPython 3.11.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# The cargo target directory lives outside the clone so that builds are reused between
# clones on the same machine; nothing depends on it being there.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/web4-runtime/target
export CARGO_TERM_COLOR ?= never
# Two cores here: keep cargo from starving the test processes it runs beside.
CARGO_JOBS ?= 2

RUST_SOURCES := Cargo.toml Cargo.lock $(shell find rust -name '*.rs' -o -name Cargo.toml 2>/dev/null)
DEPS_STAMP := $(VENV)/.deps-installed
EXT_STAMP := $(VENV)/.ext-built
SCRIPTS := $(wildcard scripts/*.py)
# Linted by zizmor (security audits, offline) and the workflow JSON schema; actionlint is
# not used: its PyPI wrapper downloads a binary at install time, which CI cannot.
WORKFLOWS := $(wildcard .github/workflows/*.yml)

.PHONY: help venv build demo test lint format typecheck rust-test py-test scripts bench clean trust-coverage soak

help: ## list the targets
	@echo "Web4 Runtime: make <target>"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s%s\n", $$1, $$2}'

$(DEPS_STAMP): requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip==25.3"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

venv: $(DEPS_STAMP) ## create .venv with the pinned tools

$(EXT_STAMP): $(DEPS_STAMP) $(RUST_SOURCES)
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(BIN)):$$PATH \
	  $(BIN)/maturin develop --release --quiet -j $(CARGO_JOBS)
	@touch $@

build: $(EXT_STAMP) ## build the Rust extension (pyo3, maturin) into .venv

demo: build ## run the demo (what the product does, end to end)
	$(PY) scripts/web4_demo.py

lint: $(DEPS_STAMP) ## ruff, workflow lint (zizmor, schema), rustfmt, clippy -D warnings
	$(BIN)/ruff check python tests benches scripts
	$(BIN)/ruff format --check python tests benches scripts
	$(BIN)/zizmor --offline --no-progress --quiet .github/workflows
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -j $(CARGO_JOBS) -- -D warnings

format: $(DEPS_STAMP) ## apply ruff and rustfmt formatting
	$(BIN)/ruff check --fix python tests benches scripts
	$(BIN)/ruff format python tests benches scripts
	cargo fmt --all

typecheck: build ## mypy --strict on python/web4, and stubtest of web4._core
	$(BIN)/mypy --strict python/web4
	$(BIN)/python -m mypy.stubtest web4._core

rust-test: ## cargo test for the whole workspace
	cargo test --workspace -j $(CARGO_JOBS)

py-test: build ## pytest with coverage
	$(BIN)/pytest --cov --cov-report=term --timeout=300 -p no:cacheprovider

trust-coverage: build ## web4.trust coverage gate: >= 95% of lines and >= 90% of branches
	@mkdir -p build
	$(BIN)/pytest tests/unit/trust -q -p no:cacheprovider --cov=web4.trust --cov-branch \
	  --cov-report=json:build/trust-coverage.json --cov-fail-under=95
	$(PY) -c 'import json, sys; t = json.load(open("build/trust-coverage.json"))["totals"]; \
	  lines = 100 * t["covered_lines"] / max(t["num_statements"], 1); \
	  branches = 100 * t["covered_branches"] / max(t["num_branches"], 1); \
	  print(f"web4.trust coverage: lines {lines:.1f}%, branches {branches:.1f}%"); \
	  sys.exit(0 if lines >= 95 and branches >= 90 else "web4.trust coverage below the gate")'

scripts: build ## run every script under scripts/ once
	@for s in $(SCRIPTS); do echo "== $$s"; $(PY) $$s; done

test: lint typecheck rust-test py-test trust-coverage scripts ## everything CI runs
	@echo "make test: all checks passed"

bench: build ## benchmarks: JSON results and report.md in build/bench/
	@mkdir -p build/bench
	$(PY) benches/bench_envelope.py --out build/bench/envelope.json
	$(PY) benches/bench_validate.py --out build/bench/validate.json
	$(PY) benches/bench_rtt.py --out build/bench/rtt.json
	$(PY) benches/bench_e2e.py --out build/bench/e2e.json
	$(PY) benches/bench_store.py --out build/bench/store.json
	$(PY) benches/bench_mesh.py --nodes 10 --out build/bench/mesh.json
	$(PY) benches/bench_report.py --dir build/bench

# Mesh sizes for `make soak`, in order; it stops at the first that does not hold.
SOAK_NODES ?= 30 40

soak: build ## fact propagation among 30, then 40 node processes, full mesh and gossip, and gossip with a third SIGKILLed and restarted: build/soak/{mesh,gossip,churn}.{json,md}
	@mkdir -p build/soak
	$(PY) benches/bench_mesh.py --nodes $(SOAK_NODES) --out build/soak/mesh.json \
	  --report build/soak/mesh.md
	$(PY) benches/bench_mesh.py --topology gossip --nodes $(SOAK_NODES) \
	  --out build/soak/gossip.json --report build/soak/gossip.md
	$(PY) benches/bench_mesh.py --topology gossip --churn --nodes $(SOAK_NODES) \
	  --out build/soak/churn.json --report build/soak/churn.md

clean: ## remove .venv, build outputs and the built extension
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache .coverage python/web4/_core*.so
