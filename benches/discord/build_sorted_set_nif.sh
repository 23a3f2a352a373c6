#!/usr/bin/env bash
# Builds Discord's sorted_set_nif (pinned to its 2.0.1 release) beside ours,
# for `mix bench sorted_set_discord`. Nothing of it enters this repository:
# it is cloned into _build/discord/ (ignored) and built with cargo.
#
#   benches/discord/build_sorted_set_nif.sh   # prints the path of the built library
set -euo pipefail
cd "$(dirname "$0")/../.."
commit=63a851e
dir=_build/discord/sorted_set_nif
if [ ! -d "$dir/.git" ]; then
  mkdir -p _build/discord
  git clone -q https://github.com/discord/sorted_set_nif "$dir"
fi
git -C "$dir" checkout -q "$commit"
(cd "$dir/native/sorted_set_nif" && cargo build --release -q)
echo "$PWD/$dir"
