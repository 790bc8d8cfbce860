#!/usr/bin/env bash
# Builds tillpoint's Debian and RPM packages into target/packages/.
#
#   bash packaging/build.sh            a release build, stripped (the shop's packages)
#   bash packaging/build.sh --debug    the debug binary the tests already built (CI)
#
# Installs what it needs: cargo-deb and cargo-generate-rpm from crates.io;
# from Debian (through .ci/deps package) dpkg-dev and binutils to build and
# lintian, rpmlint, desktop-file-utils, appstream and wixl, with which
# `.ci/packages --no-build` checks what this script made. The package contents
# are listed in Cargo.toml ([package.metadata.deb] and
# [package.metadata.generate-rpm]); this script stages the stripped binary,
# the man page and the shell completions under target/packaging/.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
[ "${1:-}" = --debug ] && profile=debug

bash .ci/deps package
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --version '^3'
command -v cargo-generate-rpm >/dev/null || cargo install cargo-generate-rpm --locked --version '^0.21'

if [ "$profile" = release ]; then
  cargo build --release --locked --bin tillpoint
fi
bin="target/$profile/tillpoint"
[ -x "$bin" ] || { echo "build.sh: $bin is missing (build it first)" >&2; exit 1; }

stage=target/packaging
rm -rf "$stage" && mkdir -p "$stage/completions" target/packages
cp "$bin" "$stage/tillpoint"
strip --strip-unneeded "$stage/tillpoint"
"$stage/tillpoint" man | gzip -9n > "$stage/tillpoint.1.gz"
"$stage/tillpoint" completions bash > "$stage/completions/tillpoint"
"$stage/tillpoint" completions zsh > "$stage/completions/_tillpoint"
"$stage/tillpoint" completions fish > "$stage/completions/tillpoint.fish"

rm -f target/packages/*.deb target/packages/*.rpm
cargo deb --no-build --no-strip --output target/packages/
cargo generate-rpm --output target/packages/
ls -l target/packages/
