#!/usr/bin/env bash
# Static checks: gofmt (must list nothing), go vet, and asl-validator on every
# statemachines/*.asl.json. Run `make tools` first (asl-validator, node 22).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
status=0

echo "lint: gofmt -l"
mapfile -t gofiles < <(find . \( -path ./node_modules -o -path ./.venv -o -path ./.tools -o -path ./dist \
	-o -path ./.git -o -name cdk.out \) -prune -o -name '*.go' -type f -print | sort)
if ((${#gofiles[@]})); then
	unformatted=$(gofmt -l "${gofiles[@]}")
	if [[ -n $unformatted ]]; then
		echo "lint: these files need gofmt -w:" >&2
		echo "$unformatted" >&2
		status=1
	fi
fi

echo "lint: go vet ./..."
go vet ./... || status=1

shopt -s nullglob
asl=(statemachines/*.asl.json)
if ((${#asl[@]})); then
	[[ -x node_modules/.bin/asl-validator ]] || {
		echo "lint: node_modules/.bin/asl-validator missing: run 'make tools'" >&2
		exit 1
	}
	echo "lint: asl-validator ${asl[*]}"
	args=()
	for f in "${asl[@]}"; do
		args+=(--json-path "$f")
	done
	node_modules/.bin/asl-validator "${args[@]}" || status=1
else
	echo "lint: no statemachines/*.asl.json to validate"
fi

if ((status)); then
	echo "lint: FAILED" >&2
else
	echo "lint: ok"
fi
exit $status
