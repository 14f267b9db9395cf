#!/usr/bin/env bash
# Builds every Lambda function: each folder functions/NAME holding a Go main
# package. Reproducible: the same source and Go version give the same bytes.
#
#   scripts/build.sh [lambda]   linux/arm64 → $DIST/NAME/bootstrap and $DIST/NAME/NAME.zip
#                               (the zip is what Lambda runs: bootstrap and the
#                               catalog, $CATALOG, default catalog.yaml)
#   scripts/build.sh local      linux/<host arch> → $DIST/local/NAME/bootstrap (for aws-lambda-rie)
#   scripts/build.sh all        both
#
# DIST defaults to dist/ in the repository. Concurrent runs (several test
# binaries at once) are serialized with a lock in $DIST.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

mode=${1:-lambda}
case $mode in
lambda | local | all) ;;
*)
	echo "usage: $0 [lambda|local|all]" >&2
	exit 2
	;;
esac

dist=${DIST:-$root/dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)

# One build at a time per output folder.
exec 9>"$dist/.build.lock"
flock 9

export CGO_ENABLED=0
flags=(-tags lambda.norpc -trimpath -buildvcs=false -ldflags "-s -w -buildid=")

# The function packages: folders functions/NAME whose (non-test) Go files
# say `package main`. Read from the files, not `go list`, so that a function
# that does not compile fails the build instead of being left out.
names=()
for dir in functions/*/; do
	n=$(basename "$dir")
	for f in "$dir"*.go; do
		[[ -f $f && $f != *_test.go ]] || continue
		if grep -q -m1 -E '^package[[:space:]]+main([[:space:]]|$)' "$f"; then
			names+=("$n")
			break
		fi
	done
done
if ((${#names[@]} == 0)); then
	echo "build: no function main packages under functions/" >&2
	exit 1
fi

tmp=$(mktemp -d "$dist/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# compile GOARCH OUTDIR: all functions in one go build (shared work),
# written as OUTDIR/NAME.
compile() {
	local arch=$1 out=$2 pkgs=() n
	for n in "${names[@]}"; do
		pkgs+=("./functions/$n")
	done
	mkdir -p "$out"
	GOOS=linux GOARCH=$arch go build "${flags[@]}" -o "$out/" "${pkgs[@]}"
}

# place SRC DESTDIR: replace DESTDIR/bootstrap atomically (a running
# emulator may still have the old binary open).
place() {
	mkdir -p "$2"
	chmod 0755 "$1"
	mv -f "$1" "$2/bootstrap"
}

catalog=${CATALOG:-$root/catalog.yaml}
if [[ $mode == lambda || $mode == all ]]; then
	if [[ ! -f $catalog ]]; then
		echo "build: no service catalog at $catalog (set CATALOG): every function package carries it" >&2
		exit 1
	fi
	cp "$catalog" "$tmp/catalog.yaml"
	go build -o "$tmp/zipper" ./scripts/zipper
	compile arm64 "$tmp/arm64"
	for n in "${names[@]}"; do
		place "$tmp/arm64/$n" "$dist/$n"
		"$tmp/zipper" -o "$dist/$n/$n.zip" "$dist/$n/bootstrap" "$tmp/catalog.yaml"
		printf 'build: %-28s %s\n' "$dist/$n/$n.zip" "$(sha256sum "$dist/$n/$n.zip" | cut -c1-16)"
	done
fi

if [[ $mode == local || $mode == all ]]; then
	compile "$(go env GOHOSTARCH)" "$tmp/local"
	for n in "${names[@]}"; do
		place "$tmp/local/$n" "$dist/local/$n"
		printf 'build: %s\n' "$dist/local/$n/bootstrap"
	done
fi
