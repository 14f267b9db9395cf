#!/usr/bin/env bash
# The whole test suite, as CI runs it (`make test`, .ci/run):
#   tools → build (linux/arm64 zips) → build-local (runtime emulator) → lint
#   → go test ./... (unit, integration, state machines, infra) → fuzz (each
#   target FUZZTIME, default 10s).
# Ends with one summary line; exits non-zero if any step failed.
#
# GO_TEST_TIMEOUT (default 30m) bounds go test; GO_TEST_FLAGS adds flags
# (e.g. GO_TEST_FLAGS='-run TestDeploy'); SKIP_FUZZ=1 leaves out fuzzing
# (never in CI).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/node_modules/.bin:$root/.tools/bin:$PATH"

start=$(date +%s)
steps=()
results=()
failed_steps=0
record() { # record NAME STATUS
	steps+=("$1")
	if [[ $2 == 0 ]]; then
		results+=("ok")
	else
		results+=("FAILED")
		failed_steps=$((failed_steps + 1))
	fi
}
banner() { printf '\n==> %s\n' "$*"; }

summary() {
	local elapsed=$(($(date +%s) - start)) i
	banner "summary (${elapsed}s)"
	for i in "${!steps[@]}"; do
		printf '  %-12s %s\n' "${steps[$i]}" "${results[$i]}"
	done
	# One closing line: tests and fuzz targets that passed; failed counts
	# failed tests, fuzz targets and every other failed step.
	local p=${go_passed:-0} f=${go_failed:-0} s=${go_skipped:-0}
	p=$((p + ${fuzz_passed:-0}))
	f=$((f + ${fuzz_failed:-0}))
	local other=$((failed_steps - ${go_step_failed:-0} - ${fuzz_step_failed:-0}))
	f=$((f + other))
	# a go test step that failed with no failed test (a build error, a
	# timeout): count its failed packages
	if [[ ${go_step_failed:-0} == 1 && ${go_failed:-0} == 0 ]]; then
		f=$((f + (${go_failed_pkgs:-0} > 0 ? ${go_failed_pkgs:-0} : 1)))
	fi
	if [[ ${fuzz_step_failed:-0} == 1 && ${fuzz_failed:-0} == 0 ]]; then f=$((f + 1)); fi
	if ((failed_steps)); then
		echo "make test: FAILED ($failed_steps step(s))"
	fi
	echo "summary: $p passed, $f failed, $s skipped"
}

run_step() { # run_step NAME COMMAND...: stop the run if it fails
	local name=$1
	shift
	banner "$name"
	"$@"
	local rc=$?
	record "$name" $rc
	if ((rc)); then
		summary
		exit 1
	fi
}

run_step tools bash scripts/tools.sh
run_step build bash scripts/build.sh lambda
run_step build-local bash scripts/build.sh local

banner lint
bash scripts/lint.sh
record lint $?

banner "go test ./..."
go build -o "$root/.tools/bin/testsummary" ./scripts/testsummary || exit 1
counts=$(mktemp)
# The integration tests first: the longest package (its local stacks),
# started at once while the other slot works through the rest.
# shellcheck disable=SC2086
go test -json -count=1 -timeout "${GO_TEST_TIMEOUT:-30m}" ${GO_TEST_FLAGS:-} ./test/integration/ ./... 2>&1 |
	"$root/.tools/bin/testsummary" -label "go-test" -counts "$counts"
rc=$?
read -r go_passed go_failed go_skipped go_failed_pkgs <"$counts" || true
rm -f "$counts"
go_step_failed=$((rc != 0))
record "go test" $rc

if [[ ${SKIP_FUZZ:-} == 1 ]]; then
	banner "fuzz: skipped (SKIP_FUZZ=1)"
else
	banner "fuzz (${FUZZTIME:-10s} per target)"
	fuzzlog=$(mktemp)
	bash scripts/fuzz.sh 2>&1 | tee "$fuzzlog"
	rc=${PIPESTATUS[0]}
	read -r fuzz_passed fuzz_failed < <(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$fuzzlog" | tail -1) || true
	rm -f "$fuzzlog"
	fuzz_step_failed=$((rc != 0))
	record fuzz $rc
fi

summary
((failed_steps == 0))
