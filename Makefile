# Everything runs from a local virtual environment (.venv). torch is pinned to the CPU wheel that
# lies on this machine's disk; installing it first means pip never resolves a CUDA build.
VENV ?= .venv
PY   := $(VENV)/bin/python
PIP  := $(VENV)/bin/pip
NAS  := $(VENV)/bin/nas
TORCH_PIN ?= torch==2.13.0

.PHONY: install install-tflite test test-slow bench demo lint clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_PIN)"
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# LiteRT conversion and host timing (~2 GB with jax); `nas export --format tflite`, device litert.
install-tflite: install
	$(PIP) install -q -e ".[tflite]" "$(TORCH_PIN)"

test: install
	$(VENV)/bin/pytest -m "not slow" -q

test-slow: install
	$(VENV)/bin/pytest -m slow -q

lint: install
	$(VENV)/bin/ruff check nas search_spaces latency experiments tests

bench: install
	$(PY) experiments/bench_synth_proxy.py
	$(PY) experiments/bench_train_throughput.py

demo: install
	$(NAS) demo

clean:
	rm -rf $(VENV) runs .pytest_cache
