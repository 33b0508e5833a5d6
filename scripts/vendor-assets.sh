#!/usr/bin/env bash
# Refresh the vendored front-end assets (api/static/vendor/, api/ui/static/vendor/) from the
# npm registry (curl and tar; no Node). Checks each tarball against the registry's sha1, keeps the licences, drops
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

# The workbench's rule editor: CodeMirror 5 (codemirror-minified) into api/ui/static/vendor/,
# the files listed in api/ui/static/VENDORED.md. CODEMIRROR_VERSION picks another release.
cm_version=${CODEMIRROR_VERSION:-5.65.9}
cm_meta=$(curl -fsS "https://registry.npmjs.org/codemirror-minified/$cm_version")
cm_tarball=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["dist"]["tarball"])' <<<"$cm_meta")
cm_shasum=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["dist"]["shasum"])' <<<"$cm_meta")
curl -fsS -o "$work/codemirror.tgz" "$cm_tarball"
echo "$cm_shasum  $work/codemirror.tgz" | sha1sum -c --quiet
mkdir -p "$work/codemirror" && tar -xzf "$work/codemirror.tgz" -C "$work/codemirror"
cm_target=api/ui/static/vendor/codemirror
rm -rf "$cm_target" && mkdir -p "$cm_target"
for file in lib/codemirror.js lib/codemirror.css mode/yaml/yaml.js addon/mode/overlay.js \
  addon/lint/lint.js addon/lint/lint.css addon/hint/show-hint.js addon/hint/show-hint.css; do
  mkdir -p "$cm_target/$(dirname "$file")"
  sed '/^\/\*# sourceMappingURL=.*\*\/$/d; /^\/\/# sourceMappingURL=.*$/d' \
    "$work/codemirror/package/$file" >"$cm_target/$file"
done
cp "$work/codemirror/package/LICENSE" "$cm_target/"
echo "codemirror-minified $cm_version (sha1 $cm_shasum) -> $cm_target; update api/ui/static/VENDORED.md"
