# stepship: thin targets over scripts/ (the scripts hold the logic).
#   make demo    the main job on one machine (no AWS account)
#   make test    everything CI runs: tools, build, lint, all tests, fuzzing
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Project-local tools first: node 22 (node_modules/.bin), aws-lambda-rie (.tools/bin).
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/.tools/bin:$(PATH)

.PHONY: help tools build build-local lint test fuzz bench mutate synth demo clean distclean

help:
	@echo "make demo         run the deploy story locally (installs what it needs)"
	@echo "make test         tools, build, build-local, lint, go test ./..., fuzz (CI runs this)"
	@echo "make tools        install npm tools, .venv (moto, cfn-lint), PostgreSQL, aws-lambda-rie"
	@echo "make build        dist/NAME/bootstrap + dist/NAME/NAME.zip (linux/arm64, reproducible)"
	@echo "make build-local  dist/local/NAME/bootstrap (linux, this machine's arch, for the emulator)"
	@echo "make lint         gofmt, go vet, asl-validator on statemachines/*.asl.json"
	@echo "make fuzz         every fuzz target for FUZZTIME (default 10s)"
	@echo "make bench        benchmarks"
	@echo "make mutate       mutation testing of functions/ and shared/ (over an hour; not in make test)"
	@echo "make synth        CloudFormation templates from infra/ (offline)"
	@echo "make clean        remove build outputs (make distclean: installed tools too)"

tools:
	@bash scripts/tools.sh

build:
	@bash scripts/build.sh lambda

build-local:
	@bash scripts/build.sh local

lint: tools
	@bash scripts/lint.sh

test:
	@bash scripts/test.sh

fuzz:
	@bash scripts/fuzz.sh

bench: tools build-local
	go test -run '^$$' -bench . -benchmem ./...

mutate:
	@bash scripts/mutate.sh

synth: tools
	@bash scripts/synth.sh

demo: tools build-local
	go run ./scripts/demo

clean:
	rm -rf dist cdk.out infra/cdk.out

distclean: clean
	rm -rf .venv .tools node_modules
