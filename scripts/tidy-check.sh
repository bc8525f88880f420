#!/usr/bin/env bash
# Fails when `go mod tidy` would change a module's go.mod or go.sum.
set -euo pipefail
status=0
for m in "$@"; do
  tmp=$(mktemp -d)
  cp "$m/go.mod" "$tmp/go.mod"
  [ -f "$m/go.sum" ] && cp "$m/go.sum" "$tmp/go.sum"
  (cd "$m" && go mod tidy >/dev/null 2>&1) || { echo "go mod tidy failed in $m"; status=1; }
  if ! diff -q "$tmp/go.mod" "$m/go.mod" >/dev/null || { [ -f "$tmp/go.sum" ] && ! diff -q "$tmp/go.sum" "$m/go.sum" >/dev/null; }; then
    echo "$m: go.mod/go.sum are not tidy (run make tidy)"
    status=1
  fi
  cp "$tmp/go.mod" "$m/go.mod"
  [ -f "$tmp/go.sum" ] && cp "$tmp/go.sum" "$m/go.sum"
  rm -rf "$tmp"
done
exit $status
