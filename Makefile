# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ctflow-installed
export OMP_NUM_THREADS ?= 1

.PHONY: run test docs verify negative-controls test-slow lint bench bench-deps wheel-check clean

# torch 2.13.0 first (a CPU wheel on disk), then the package, so pip keeps that torch.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,rl,compress]"
	touch $(STAMP)

# each run gets its own directory; the CLI prints where the report is
run: $(STAMP)
	$(BIN)/ctflow run flow-matching-2d --quick --out runs/flow-matching-2d-quick-$$(date +%Y%m%d-%H%M%S)

# the default suite, every docstring example and the claims tier, over both cores (one torch
# thread per worker: OMP_NUM_THREADS above, and conftest.py)
XDIST := -n 2 --dist worksteal

test: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow" --durations=15

# the documentation site in site/, strict: any warning (a broken reference or link) fails;
# tests/test_docs.py builds it too, so CI does
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

# the claims tier alone: each experiment's quick run asserts its docs/results verdict
verify: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) -m claims --durations=30

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) -m "slow and not negative" --durations=15

# the claims tier and its negative controls (each claim must fail with its method broken), then
# the tables of docs/results/claims.md (about 13 minutes on 2 cores)
negative-controls: $(STAMP)
	mkdir -p runs
	rm -f runs/claims.jsonl
	CTFLOW_CLAIMS_LOG=runs/claims.jsonl $(BIN)/python -m pytest -q $(XDIST) -m "claims or negative"
	$(BIN)/python scripts/claims_table.py runs/claims.jsonl > runs/claims-tables.md
	@echo "tables for docs/results/claims.md: runs/claims-tables.md"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests benchmarks examples scripts

# torchcfm declares torchvision and a CUDA torch: install it without its dependencies (PEERS.md)
bench-deps: $(STAMP)
	$(BIN)/python -m pip install -q -r benchmarks/requirements.txt
	$(BIN)/python -m pip install -q --no-deps torchcfm
	$(BIN)/python -m pip install -q --no-deps torchgfn linear-attention-transformer

bench: bench-deps
	$(BIN)/python benchmarks/solvers.py
	$(BIN)/python benchmarks/flow_matching.py
	$(BIN)/python benchmarks/meanflow.py
	$(BIN)/python benchmarks/discrete_flow_matching.py
	$(BIN)/python benchmarks/steady_state.py
	$(BIN)/python benchmarks/cpflow.py
	$(BIN)/python benchmarks/divfree.py
	$(BIN)/python benchmarks/sdebnn.py
	$(BIN)/python benchmarks/voronoi.py
	$(BIN)/python benchmarks/gfn.py
	$(BIN)/python benchmarks/ppd.py
	$(BIN)/python benchmarks/compression.py
	$(BIN)/python benchmarks/rl.py

wheel-check: $(STAMP)
	bash scripts/check_wheel.sh

clean:
	rm -rf $(VENV) runs build dist
