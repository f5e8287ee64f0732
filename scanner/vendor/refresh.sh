#!/bin/sh
# Refresh the vendored consent-banner rule set from npm.
#
# The scanner injects @duckduckgo/autoconsent (MPL-2.0) into pages to click foreign consent
# banners. We ship its built bundle and rules inside the Python package so a scan needs neither
# node nor the network; this script is the only way those files change. Bump the version in
# scanner/package.json, run this script, run tests/scanner, commit the result.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
scanner=$(dirname "$here")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$scanner/package.json" "$work/"
(cd "$work" && npm install --no-audit --no-fund --ignore-scripts >/dev/null)
pkg="$work/node_modules/@duckduckgo/autoconsent"
out="$here/autoconsent"
mkdir -p "$out"
cp "$pkg/dist/autoconsent.playwright.js" "$out/autoconsent.playwright.js"
cp "$pkg/rules/rules.json" "$out/rules.json"
cp "$pkg/LICENSE" "$out/LICENSE"
node -e 'process.stdout.write(require(process.argv[1]).version + "\n")' "$pkg/package.json" > "$out/VERSION"
echo "autoconsent $(cat "$out/VERSION") -> $out"
