#!/usr/bin/env bash
# proto.sh generates the Go code for proto/ with the buf and protoc-gen-go
# versions pinned in tools/go.mod; nothing is installed globally.
#
#   tools/proto.sh         format and lint proto/, regenerate pkg/opspb
#                          (make proto)
#   tools/proto.sh check   lint, format check, and fail if pkg/opspb is not
#                          what the pinned generator produces (make lint); it
#                          changes no file
#
# The first run builds buf (about 2 minutes on 2 cores); later runs take the
# binaries from the Go build cache.
set -euo pipefail

mode=${1:-generate}
case $mode in
generate | check) ;;
*)
	echo "usage: $0 [check]" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Directories that hold generated code, relative to the repository root.
gen_dirs=(pkg/opspb)

# The tools module is kept out of go.work so that buf's large dependency graph
# never reaches the services' builds; every go command on it therefore runs
# outside workspace mode. (`go tool -modfile=tools/go.mod` cannot be used from
# the root: -modfile is refused in workspace mode and needs a main module
# without it.)
export GOWORK=off
echo "proto: resolving the pinned buf and protoc-gen-go (built on first use)" >&2
buf=$(go -C "$root/tools" tool -n buf)
protoc_gen_go=$(go -C "$root/tools" tool -n protoc-gen-go)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# buf.gen.yaml names the plugin `protoc-gen-go`; put the pinned one first on
# PATH rather than trusting whatever protoc-gen-go the machine has.
mkdir "$tmp/bin"
ln -s "$protoc_gen_go" "$tmp/bin/protoc-gen-go"
export PATH="$tmp/bin:$PATH"

cd "$root"
if [[ $mode == generate ]]; then
	"$buf" format --write proto
fi
"$buf" lint proto
"$buf" generate proto --template proto/buf.gen.yaml --output "$tmp/gen"

shopt -s nullglob
if [[ $mode == check ]]; then
	if ! "$buf" format --diff --exit-code proto; then
		echo "proto: proto/ is not buf-formatted; run 'make proto' (tools/proto.sh)" >&2
		exit 1
	fi
	status=0
	for dir in "${gen_dirs[@]}"; do
		# Compare only generated files: hand-written ones (doc.go) live
		# beside them.
		mkdir -p "$tmp/committed/$dir" "$tmp/gen/$dir"
		committed=("$dir"/*.pb.go)
		if ((${#committed[@]})); then
			cp "${committed[@]}" "$tmp/committed/$dir/"
		fi
		if ! diff -ru "$tmp/committed/$dir" "$tmp/gen/$dir" >"$tmp/diff"; then
			sed -e "s#$tmp/committed/#committed/#" -e "s#$tmp/gen/#generated/#" "$tmp/diff" >&2
			status=1
		fi
	done
	if ((status)); then
		echo "proto: generated code is out of date with proto/; run 'make proto' (tools/proto.sh) and commit the result" >&2
		exit 1
	fi
	echo "proto: generated code is up to date" >&2
	exit 0
fi

for dir in "${gen_dirs[@]}"; do
	mkdir -p "$dir"
	# Remove what an earlier schema generated so deleted .proto files do
	# not leave stale Go behind.
	stale=("$dir"/*.pb.go)
	if ((${#stale[@]})); then
		rm -f "${stale[@]}"
	fi
	fresh=("$tmp/gen/$dir"/*.pb.go)
	if ((${#fresh[@]})); then
		cp "${fresh[@]}" "$dir/"
	fi
done
echo "proto: regenerated ${gen_dirs[*]}" >&2
