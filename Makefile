# Two commands do all the set-up: `make demo` and `make test` create .venv first if it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= runs/demo
DATA ?=
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup test test-fast lint demo clean image

# `make image MODEL=NAME`: k8s/Dockerfile built with buildah as $(IMAGE), serving model-store/NAME.mar
# (a random-weights MobileNetV2 archived as NAME when there is none; its run: runs/image/NAME).
# BASE_IMAGE is pulled when it can be; where no registry is reachable, the build starts from a
# Debian bookworm made with debootstrap and imported once as DEBIAN_BASE (kept in buildah's storage,
# its root filesystem in IMAGE_CACHE). TORCH_INDEX is left out when unreachable (torch from PyPI).
# BUILD_CA: see below. BUILDAH_ARGS passes more options (--no-cache for a cold build). Check the result with
# `$(PY) scripts/check_image.py $(IMAGE) --run runs/image/NAME`; see docs/kubernetes.md.
IMAGE ?= foodclf-torchserve:0.1.0
MODEL ?= mobilenet_v2
BASE_IMAGE ?= docker.io/library/python:3.11-slim-bookworm
DEBIAN_BASE ?= localhost/foodclf-debian:bookworm
DEBIAN_MIRROR ?= http://deb.debian.org/debian
IMAGE_CACHE ?= /var/tmp/foodclf-image
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# A CA bundle for pip in the build (behind a TLS-inspecting proxy): mounted for the build only.
BUILD_CA ?= $(PIP_CERT)
BUILDAH_ARGS ?=

setup: $(VENV)/.installed

# Re-runs only when the package metadata changes; pip itself is idempotent too.
$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow and not serve" $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .

demo: setup
	$(PY) scripts/demo.py --out $(OUT) $(if $(DATA),--data $(DATA)) $(DEMO_ARGS)

clean:
	rm -rf runs model-store/*.mar .pytest_cache

image: setup
	test -f model-store/$(MODEL).mar || { \
	    $(PY) -c 'import sys; from foodclf.training.runs import random_weights_run as r; r(sys.argv[1], "mobilenet_v2", 224)' \
	        runs/image/$(MODEL) \
	    && $(VENV)/bin/foodclf archive runs/image/$(MODEL) --name $(MODEL) --export-path model-store; }
	base=$(BASE_IMAGE); \
	if ! buildah inspect --type image $$base >/dev/null 2>&1 && ! buildah pull -q $$base >/dev/null; then \
	    echo "$$base cannot be pulled: building from $(DEBIAN_BASE)"; base=$(DEBIAN_BASE); \
	    if ! buildah inspect --type image $$base >/dev/null 2>&1; then \
	        test -d $(IMAGE_CACHE)/bookworm || { rm -rf $(IMAGE_CACHE)/bookworm.part && mkdir -p $(IMAGE_CACHE) \
	            && debootstrap --variant=minbase bookworm $(IMAGE_CACHE)/bookworm.part $(DEBIAN_MIRROR) >/dev/null \
	            && mv $(IMAGE_CACHE)/bookworm.part $(IMAGE_CACHE)/bookworm; } \
	        && tar -C $(IMAGE_CACHE)/bookworm -c . | podman import -q - $$base || exit 1; \
	    fi; \
	fi; \
	index=$(TORCH_INDEX); \
	if [ -n "$$index" ] && ! $(PY) -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=20)' $$index 2>/dev/null; then \
	    echo "$$index unreachable: torch from PyPI"; index=; \
	fi; \
	buildah bud --isolation chroot --layers -f k8s/Dockerfile --ignorefile k8s/Dockerfile.dockerignore \
	    --build-arg BASE_IMAGE=$$base --build-arg TORCH_INDEX=$$index --build-arg MODEL_NAME=$(MODEL) \
	    $(if $(BUILD_CA),--volume $(BUILD_CA):/run/foodclf-build-ca.crt:ro --build-arg PIP_CERT=/run/foodclf-build-ca.crt) \
	    -t $(IMAGE) $(BUILDAH_ARGS) .
