#!/usr/bin/env bash
# Builds every function, then synthesizes stepship's CDK app into a cloud
# assembly: offline, with no AWS credentials and no context lookups.
#
#   scripts/synth.sh [cdk synth options...]
#
# CDK_OUT names the output directory (default: cdk.out at the repo root), DIST
# the build's (default: dist). Extra options go to `cdk synth`, e.g.
# `-c catalog=other.yaml -c region=eu-west-1`.
# The template's absolute path is printed on stdout: OUT/Stepship.template.json.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${CDK_OUT:-cdk.out}

# 1. Build: dist/NAME/bootstrap (linux/arm64) for every function. DIST (read by
#    scripts/build.sh) moves the build; the app is told through its context.
dist_context=()
if [[ -n ${DIST:-} ]]; then
	dist_context=(-c "dist=$DIST")
fi
if [[ -f scripts/build.sh ]]; then
	bash scripts/build.sh lambda >&2
else
	echo "synth: scripts/build.sh not found; building functions/* with go build" >&2
	for dir in functions/*/; do
		name=$(basename "$dir")
		compgen -G "${dir}*.go" >/dev/null || continue
		mkdir -p "${DIST:-dist}/$name"
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -tags lambda.norpc \
			-ldflags='-s -w -buildid=' -o "${DIST:-dist}/$name/bootstrap" "./$dir"
	done
fi

# 2. The CDK CLI and Node pinned by package-lock.json; jsii runs the app under
#    that Node too (the CLI puts nothing else first on PATH).
if [[ ! -x node_modules/.bin/cdk ]]; then
	npm ci --no-audit --no-fund >&2
fi
export PATH="$root/node_modules/.bin:$PATH"

# 3. Synthesize. Nothing reaches the network: no notices, version check,
#    telemetry, instance metadata or lookups.
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true AWS_EC2_METADATA_DISABLED=true
cdk synth --app "go run ./infra" --output "$out" --quiet --no-notices --no-version-reporting \
	--no-lookups --ec2creds=false "${dist_context[@]}" "$@" >&2

# 4. Say where the template is (an absolute path).
shopt -s nullglob
out=$(cd "$out" && pwd)
templates=("$out"/*.template.json)
if ((${#templates[@]} == 0)); then
	echo "synth: no template in $out" >&2
	exit 1
fi
printf '%s\n' "${templates[@]}"
