#!/usr/bin/env bash
# Runs every Go fuzz target in the repository (func FuzzXxx(f *testing.F) in a
# _test.go file) for a bounded time each: FUZZTIME (default 10s).
# A failing input is saved under the package's testdata/fuzz/ by go test;
# commit it as a regression case once fixed.
#
# Go 1.26's fuzzing coordinator has a shutdown race (golang/go#75804, fixed in
# Go 1.27): when -fuzztime runs out while a worker is mid-call, the target can
# fail with a bare "context deadline exceeded" and no failing input. Such a run
# is not a finding, but it is not a pass either: the target is fuzzed again
# with a count budget (FUZZRETRY, default 20000x), which has no deadline to
# race, and that run decides. Any other failure, or one that wrote an input,
# fails at once.
#
#   scripts/fuzz.sh                  all targets
#   FUZZTIME=1m scripts/fuzz.sh      longer
#   scripts/fuzz.sh ./shared/...     only targets under these package folders
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
retry=${FUZZRETRY:-20000x}

roots=("$@")
((${#roots[@]})) || roots=(.)
paths=()
for r in "${roots[@]}"; do
	paths+=("${r%/...}")
done

# "dir name" for every fuzz target, in a stable order.
mapfile -t targets < <(
	find "${paths[@]}" \( -name node_modules -o -name .venv -o -name .tools -o -name dist -o -name .git \
		-o -name testdata -o -name cdk.out \) -prune -o -name '*_test.go' -type f -print |
		xargs -r grep -H -o -E '^func Fuzz[A-Za-z0-9_]*\(' |
		sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u
)

# inputs DIR: how many inputs the target's corpus folder holds.
inputs() { if [[ -d $1 ]]; then find "$1" -type f | wc -l; else echo 0; fi; }

passed=0
failed=0
failures=()
if ((${#targets[@]} == 0)); then
	echo "fuzz: no fuzz targets found"
fi
for t in "${targets[@]}"; do
	dir=${t% *}
	name=${t#* }
	pkg=./${dir#./}
	echo "fuzz: $pkg $name (-fuzztime=$fuzztime)"
	corpus=$dir/testdata/fuzz/$name
	before=$(inputs "$corpus")
	log=$(mktemp)
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime="$fuzztime" "$pkg" 2>&1 | tee "$log"; then
		passed=$((passed + 1))
		rm -f "$log"
		continue
	fi
	after=$(inputs "$corpus")
	if grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log" && ((after == before)); then
		echo "fuzz: $name hit Go's fuzztime shutdown race (golang/go#75804), no input written; fuzzing again with -fuzztime=$retry"
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime="$retry" "$pkg"; then
			passed=$((passed + 1))
			rm -f "$log"
			continue
		fi
	fi
	rm -f "$log"
	failed=$((failed + 1))
	failures+=("$pkg $name")
done
for f in "${failures[@]}"; do
	echo "fuzz: FAILED $f" >&2
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
