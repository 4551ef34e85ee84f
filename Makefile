# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap .venv
# (Debian build packages when root, dlib built from source with BLAS) the first time.
#
# Another interpreter gets its own venv: make test PYTHON=/root/.pyenv/versions/3.8.18/bin/python
PYTHON ?= python3
ifeq ($(PYTHON),python3)
VENV ?= .venv
else
VENV ?= .venv-$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
endif
BIN := $(VENV)/bin
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: bootstrap test demo console run lint bench clean

bootstrap: $(VENV)/.bootstrapped

$(VENV)/.bootstrapped: pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh $(PYTHON) $(VENV)

## test: the whole test suite (real photos from ../shared/faces when present)
test: bootstrap
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## demo: enrol a public-domain face and recognise it, no camera needed
demo: bootstrap
	$(BIN)/greeter demo

## console: the web console against a demo store; prints the URL and a demo password
console: bootstrap
	$(BIN)/python -m greeter.console.demo

## run: the robot with the default camera (RUN_ARGS="--source csi://0 --window 800x480")
run: bootstrap
	$(BIN)/greeter run $(RUN_ARGS)

## lint: ruff over the package, tests, benchmarks and scripts (CI runs it before the tests)
lint: bootstrap
	$(BIN)/ruff check greeter tests benchmarks scripts

## bench: the benchmarks, each printing its figure beside its baseline
bench: bootstrap
	$(BIN)/python benchmarks/openset_lfw.py
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/enrol_speed.py
	$(BIN)/python benchmarks/enrol_lfw.py
	$(BIN)/python benchmarks/console.py
	$(BIN)/python benchmarks/live_clip.py
	$(BIN)/python benchmarks/nano_standin.py
	$(BIN)/python benchmarks/empty_entrance.py
	$(BIN)/python benchmarks/idle_camera.py
	$(BIN)/python benchmarks/screen.py
	$(BIN)/python benchmarks/track_split.py
	$(BIN)/python benchmarks/queue_busy.py
	$(BIN)/python benchmarks/shared_store.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
