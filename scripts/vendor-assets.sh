#!/usr/bin/env bash
# Refresh the vendored front-end assets in api/static/vendor/ from the npm registry (curl and
# tar; no Node). Checks each tarball against the registry's sha1, keeps the licences, drops
# source maps. Usage: bash scripts/vendor-assets.sh [swagger-ui-dist version]
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-5.35.0}
meta=$(curl -fsS "https://registry.npmjs.org/swagger-ui-dist/$version")
tarball=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["dist"]["tarball"])' <<<"$meta")
shasum=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["dist"]["shasum"])' <<<"$meta")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsS -o "$work/package.tgz" "$tarball"
echo "$shasum  $work/package.tgz" | sha1sum -c --quiet
tar -xzf "$work/package.tgz" -C "$work"
target=api/static/vendor/swagger-ui
rm -rf "$target" && mkdir -p "$target"
for file in swagger-ui-bundle.js swagger-ui.css; do
  sed '/^\/\*# sourceMappingURL=.*\*\/$/d; /^\/\/# sourceMappingURL=.*$/d' "$work/package/$file" >"$target/$file"
done
cp "$work/package/"{favicon-32x32.png,LICENSE,NOTICE,swagger-ui-bundle.js.LICENSE.txt} "$target/"
echo "swagger-ui-dist $version (sha1 $shasum) -> $target; update the table in api/static/vendor/README.md"
