#!/usr/bin/env bash
# Runs every Go fuzz target in the repository (func FuzzXxx(f *testing.F) in a
# _test.go file) for a bounded time each: FUZZTIME (default 10s).
# A failing input is saved under the package's testdata/fuzz/ by go test;
# commit it as a regression case once fixed.
#
#   scripts/fuzz.sh                  all targets
#   FUZZTIME=1m scripts/fuzz.sh      longer
#   scripts/fuzz.sh ./shared/...     only targets under these package folders
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}

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
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime="$fuzztime" "$pkg"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures+=("$pkg $name")
	fi
done
for f in "${failures[@]}"; do
	echo "fuzz: FAILED $f" >&2
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
