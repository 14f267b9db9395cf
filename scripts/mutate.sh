#!/usr/bin/env bash
# Mutation testing (make mutate): how many deliberate bugs the unit tests of
# functions/ and shared/ notice. Gremlins (pinned by scripts/tools/gremlins/go.mod)
# changes the code one mutant at a time — a < becomes <=, a == becomes != — and
# runs the package's tests; a mutant the tests still pass "lived".
#
#   scripts/mutate.sh                   every package of functions/ and shared/
#   scripts/mutate.sh ./shared/webhook  only these packages
#
# Per package: efficacy = killed / (killed + lived), mutator coverage =
# (killed + lived) / all mutants. A mutant whose tests ran out of time was not
# measured: it counts against coverage, so a package whose every mutant timed
# out fails instead of reading 100 %. The goal is >= 95 % and >= 90 % in every
# package; the script exits 1 when a package misses it. Results go to
# .tools/mutate/NAME.json and NAME.log; takes over an hour on 2 cores, so it
# is not part of `make test`.
#
# Gremlins' time limit per mutant is the coverage run's time (built from
# cache) times the coefficient, and a mutant's run must also compile: the
# coefficient leaves room for that on a loaded machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
min_efficacy=${MIN_EFFICACY:-95}
min_coverage=${MIN_COVERAGE:-90}
timeout_coefficient=${TIMEOUT_COEFFICIENT:-20}

bin=$root/.tools/bin/gremlins
mod=$root/scripts/tools/gremlins
mkdir -p "$root/.tools/bin" "$root/.tools/mutate"
CGO_ENABLED=0 go -C "$mod" build -trimpath -o "$bin" github.com/go-gremlins/gremlins/cmd/gremlins

pkgs=("$@")
if ((${#pkgs[@]} == 0)); then
	# Every package with code of its own (test helpers, packages named like
	# webhooktest, are measured through the packages that use them, not on
	# their own).
	while IFS= read -r dir; do
		pkgs+=("./$dir")
	done < <(go list -f '{{if .GoFiles}}{{.Dir}}{{end}}' ./functions/... ./shared/... | sed "s#^$root/##" | grep -Ev '(^|/)[^/]*test$')
fi

# Gremlins v0.6.0 tests a mutant with `go test ... PKG`, PKG found by
# walking up the file's folders to one named like its Go package; a `package
# main` (every function of functions/) has none, so it names the module's
# root, which has no package: `go test` fails to set up and every mutant
# counts as killed, whatever the tests. A `go` first on PATH gives such a
# `go test` the package being measured (MUTATE_PKG) instead.
module=$(go list -m)
real_go=$(command -v go)
shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
cat >"$shim/go" <<SHIM
#!/usr/bin/env bash
if [[ \$1 == test && -n \${MUTATE_PKG:-} && \${*: -1} == "$module" ]]; then
	exec "$real_go" "\${@:1:\$#-1}" "\$MUTATE_PKG"
fi
exec "$real_go" "\$@"
SHIM
chmod +x "$shim/go"

fail=0
printf '%-28s %7s %6s %12s %10s %10s %9s\n' package killed lived "not covered" "timed out" efficacy coverage
for pkg in "${pkgs[@]}"; do
	name=$(echo "${pkg#./}" | tr / -)
	out=$root/.tools/mutate/$name.json
	# Only this package's files: subpackages are measured on their own.
	excludes=()
	while IFS= read -r sub; do
		excludes+=(-E "(^|/)${sub#"${pkg#./}/"}/")
	done < <(go list -f '{{.Dir}}' "$pkg/..." | sed "s#^$root/##" | grep -vx "${pkg#./}" || true)
	rm -f "$out"
	MUTATE_PKG=$(go list "$pkg") PATH="$shim:$PATH" "$bin" unleash --workers 2 --timeout-coefficient "$timeout_coefficient" "${excludes[@]}" -o "$out" "$pkg" >"$root/.tools/mutate/$name.log" 2>&1 || true
	read -r killed lived uncovered < <(python3 - "$out" "$root/.tools/mutate/$name.log" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    # A package without a single mutant (only types and constants) gets no
    # report: gremlins says so and writes no JSON.
    if "No results to report" in open(sys.argv[2]).read():
        print(0, 0, 0)
    else:
        print(-1, -1, -1)
    sys.exit()
print(d.get("mutants_killed", 0), d.get("mutants_lived", 0), d.get("mutants_not_covered", 0))
PY
)
	if ((killed < 0)); then
		echo "mutate: $pkg: gremlins failed, see .tools/mutate/$name.log" >&2
		fail=1
		continue
	fi
	timedout=$(grep -c '^ *TIMED OUT' "$root/.tools/mutate/$name.log" || true)
	read -r eff cov ok < <(python3 -c "
k,l,n,t=$killed,$lived,$uncovered,$timedout
e=100.0 if k+l==0 else 100.0*k/(k+l)
c=100.0 if k+l+n+t==0 else 100.0*(k+l)/(k+l+n+t)
print(f'{e:.1f} {c:.1f} {int(e>=$min_efficacy and c>=$min_coverage)}')")
	printf '%-28s %7d %6d %12d %10d %9s%% %8s%%\n' "${pkg#./}" "$killed" "$lived" "$uncovered" "$timedout" "$eff" "$cov"
	if ((ok == 0)); then
		fail=1
		grep -E '^ *(LIVED|NOT COVERED|TIMED OUT)' "$root/.tools/mutate/$name.log" | sed 's/^/    /' || true
	fi
done
if ((fail)); then
	echo "mutate: below the goal (efficacy >= $min_efficacy %, coverage >= $min_coverage %) in a package above" >&2
	exit 1
fi
echo "mutate: every package meets efficacy >= $min_efficacy % and mutator coverage >= $min_coverage %"
