# sovereign.cluster. On a fresh machine use ./run (it installs make and python3-venv first):
#   ./run lab    build/start the local lab, run playbooks/site.yml against it, tear it down
#   ./run test   the whole test suite (lint, sanity, unit, integration, Molecule)
# Both install what they need (Debian packages, the pinned .venv) and cache the lab images.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export SOVEREIGN_CACHE ?= /var/cache/sovereign-cluster
# The Debian mirror of this machine's own apt sources (the lab and the VM scenarios install from it).
ifndef SOVEREIGN_DEBIAN_MIRROR
export SOVEREIGN_DEBIAN_MIRROR := $(shell python3 lab/lab.py debian-mirror)
endif
export ANSIBLE_NOCOLOR := 1
export PY_COLORS := 0
# Keep tool state (Molecule, ansible-test, Galaxy caches) out of the user's real home.
export SOVEREIGN_TOOL_HOME := $(CURDIR)/build/home
COLLECTION_LINK := build/collections/ansible_collections/sovereign/cluster
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: help deps venv setup images k8s-build k8s-build-all lab lab-up lab-down lab-prepare lab-check site test lint sanity unit integration molecule molecule-vm bench bench-hardening clean

help:
	@sed -n '2,5p' Makefile

deps:  ## Debian packages for the lab and the tests (skipped when present)
	python3 lab/lab.py deps

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	# pip -q still prints one warning per missing local wheel directory of some machines; drop those.
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $@

venv: $(VENV)/.installed

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

setup: deps venv $(COLLECTION_LINK)
	mkdir -p $(SOVEREIGN_TOOL_HOME)

images: setup  ## build the cached podman and VM base images when missing, then check container name resolution
	$(PY) lab/lab.py images
	$(PY) lab/lab.py netcheck

# Kubernetes from its source modules, cached by version under $(SOVEREIGN_CACHE)/kubernetes (a cache hit
# takes a second). The suite needs kube-apiserver, kube-controller-manager, kube-scheduler, kubeadm, etcd
# and helm; k8s-build-all adds kubelet, kube-proxy and kubectl (the lab's mirror).
k8s-build: setup
	$(PY) lab/k8s_build.py build --only suite

k8s-build-all: setup
	$(PY) lab/k8s_build.py build

lab-up: images
	$(PY) lab/lab.py up

lab-down:
	$(PY) lab/lab.py down

# The lab's GPU worker gets the nvidia-smi simulator the nvidia_gpu Molecule scenario uses.
lab-prepare:
	MOLECULE_PROJECT_DIRECTORY=$(CURDIR) ansible-playbook -l gpu_workers molecule/nvidia_gpu/prepare.yml

# The lab OpenBao's root token reaches vault_transit as VAULT_TOKEN, never through the inventory.
site:
	VAULT_TOKEN=$$(cat lab/state/openbao-root-token) ansible-playbook playbooks/site.yml

# After site.yml: every forwarding host's marker record must reach the collector's chained store and verify.
lab-check:
	ansible-playbook lab/check_audit.yml

lab: lab-up  ## the main job: lab up, site.yml, the audit arrival check, lab down (also when a step fails)
	rc=0; { $(MAKE) --no-print-directory lab-prepare && $(MAKE) --no-print-directory site \
	  && $(MAKE) --no-print-directory lab-check; } || rc=$$?; \
	$(MAKE) --no-print-directory lab-down; exit $$rc

test: images  ## the whole suite, every tier; stops at the first failing tier
	@start=$$(date +%s); \
	for tier in lint sanity unit integration molecule; do \
	  echo "=== tier: $$tier"; t0=$$(date +%s); \
	  $(MAKE) --no-print-directory $$tier; \
	  echo "=== tier $$tier passed in $$(( $$(date +%s) - t0 ))s"; \
	done; \
	echo "=== all tiers passed in $$(( $$(date +%s) - start ))s"

lint: setup
	yamllint -s .
	ansible-lint --profile production --offline

sanity: setup
	tests/sanity/run.sh

# Two workers: most of the time goes to starting Python processes and waiting on servers, VMs and
# containers, so the two cores are kept busy. --dist loadfile keeps a file's fixtures on one worker.
unit: setup
	$(PYTEST) -n 2 --dist loadfile tests/unit

integration: images k8s-build
	$(PYTEST) -n 2 --dist loadfile tests/integration

molecule: images
	$(PYTEST) -n 2 --dist load tests/molecule

# The VM scenarios (real kernel under TCG emulation: slow), outside the default suite.
molecule-vm: images
	SOVEREIGN_VM_SCENARIOS=1 $(PYTEST) tests/molecule -k "$$(cd molecule && ls -d *_vm | paste -sd' ' | sed 's/ / or /g')"

bench: setup  ## every benchmark but the hardening one (hours of VM time: make bench-hardening)
	@for b in $$(ls benchmarks/bench_*.py | grep -v bench_hardening.py); do echo "=== $$b"; $(PY) $$b; done

bench-hardening: setup images  ## ANSSI scans in VMs: baseline / role / CaC (hours). VARIANTS=baseline,role NODE=k8s LEVELS=intermediary
	$(PY) benchmarks/bench_hardening.py --variants $(or $(VARIANTS),baseline,role,cac) $(if $(NODE),--profile-node $(NODE)) $(if $(LEVELS),--levels $(LEVELS))

clean: lab-down
	rm -rf build
