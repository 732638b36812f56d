#!/usr/bin/env bash
# Installs adsched for the GitHub Action (action.yml), or anywhere else.
#
#   install.sh resolve   print which version, target and folder would be used
#                        (as key=value lines, also appended to $GITHUB_OUTPUT)
#   install.sh           install it: the release's prebuilt binary, checked
#                        against its published SHA-256, else `cargo install`
#
# Everything comes from the environment, so a test can point it at a local
# "release" folder and a local git checkout:
#
#   ADSCHED_VERSION        a release tag (v0.1.0), a commit SHA or a branch
#   ADSCHED_REPOSITORY     owner/name of the adsched repository
#   ADSCHED_DOWNLOAD_BASE  where the release assets are (default
#                          https://github.com/$ADSCHED_REPOSITORY/releases/download/$ADSCHED_VERSION);
#                          any URL curl reads: http://127.0.0.1:PORT/..., file:///...
#   ADSCHED_GIT_URL        what the cargo fallback builds (default
#                          https://github.com/$ADSCHED_REPOSITORY)
#   ADSCHED_INSTALL_ROOT   the binary goes to $ADSCHED_INSTALL_ROOT/bin/adsched
#   ADSCHED_TARGET         the Rust target triple whose binary to fetch
#                          (default: this machine's, from uname)
#   ADSCHED_FALLBACK       cargo (default) or none
#   ADSCHED_CARGO_INSTALL_ARGS  extra `cargo install` arguments, e.g. --debug
#
# Exit status: 0 installed, 1 refused (checksum mismatch) or failed, 2 misuse.
set -euo pipefail

say() { printf 'adsched-install: %s\n' "$*" >&2; }
die() {
  say "$2"
  exit "$1"
}

version=${ADSCHED_VERSION:-}
repository=${ADSCHED_REPOSITORY:-}
# github.action_ref and github.action_repository are empty in some composite
# action contexts (actions/runner#2473); the runner checks a remote action out
# at _actions/OWNER/NAME/REF, which says the same.
if [[ (-z $version || -z $repository) && ${GITHUB_ACTION_PATH:-} == */_actions/*/*/* ]]; then
  rest=${GITHUB_ACTION_PATH#*/_actions/}
  IFS=/ read -r path_owner path_name path_ref _ <<< "$rest"
  [[ -n $repository ]] || repository=$path_owner/$path_name
  [[ -n $version ]] || version=$path_ref
fi
# A local action (uses: ./) has no action repository: it is this one.
[[ -n $repository ]] || repository=${GITHUB_REPOSITORY:-}
[[ -n $version ]] || die 2 "no version to install: set the action's \`version\` input (a release tag such as v0.1.0)"
# A bare 0.1.0 means the tag v0.1.0, the only form releases are published under.
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] && version=v$version

# What kind of ref: only a tag has release assets; a commit is as fixed as a
# tag (cacheable), a branch moves (built every time).
if [[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]]; then
  kind=tag
elif [[ $version =~ ^[0-9a-f]{40}$ ]]; then
  kind=rev
else
  kind=branch
fi

if [[ -n ${ADSCHED_TARGET:-} ]]; then
  target=$ADSCHED_TARGET
else
  # The release workflow builds exactly these four (musl: static, so any
  # Linux distribution runs it).
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) target=x86_64-unknown-linux-musl ;;
    Linux/aarch64 | Linux/arm64) target=aarch64-unknown-linux-musl ;;
    Darwin/x86_64) target=x86_64-apple-darwin ;;
    Darwin/arm64 | Darwin/aarch64) target=aarch64-apple-darwin ;;
    *) target=none ;;
  esac
fi

base_dir=${RUNNER_TOOL_CACHE:-${TMPDIR:-/tmp}}
install_root=${ADSCHED_INSTALL_ROOT:-$base_dir/adsched/$version/$target}
bin=$install_root/bin/adsched
cacheable=false
[[ $kind == branch ]] || cacheable=true

emit() {
  printf '%s=%s\n' "$1" "$2"
  if [[ -n ${GITHUB_OUTPUT:-} ]]; then printf '%s=%s\n' "$1" "$2" >> "$GITHUB_OUTPUT"; fi
}

if [[ ${1:-} == resolve ]]; then
  emit version "$version"
  emit repository "$repository"
  emit kind "$kind"
  emit target "$target"
  emit root "$install_root"
  emit cacheable "$cacheable"
  exit 0
fi
[[ $# -eq 0 ]] || die 2 "usage: install.sh [resolve]"

finish() {
  local got
  got=$("$bin" --version) || die 1 "$bin does not run"
  say "$1: $got at $bin"
  emit path "$bin"
  if [[ -n ${GITHUB_PATH:-} ]]; then printf '%s\n' "$install_root/bin" >> "$GITHUB_PATH"; fi
  exit 0
}

# Restored by actions/cache (or installed by an earlier step of the job).
# Only the immutable kinds: a branch is rebuilt, its head may have moved.
if [[ $cacheable == true && -x $bin ]] && "$bin" --version > /dev/null 2>&1; then
  finish "already installed"
fi

sha256_of() {
  if command -v sha256sum > /dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum > /dev/null; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Returns 1 when the assets cannot be had (the caller may build instead); a
# checksum that does not match ends the script: that is tampering or a broken
# release, and building something else instead would hide it.
download() {
  local base asset want got
  base=${ADSCHED_DOWNLOAD_BASE:-https://github.com/$repository/releases/download/$version}
  asset=adsched-$version-$target.tar.gz
  say "downloading $base/$asset"
  if ! curl --fail --silent --show-error --location --retry 3 \
    --output "$tmp/$asset" "$base/$asset" ||
    ! curl --fail --silent --show-error --location --retry 3 \
      --output "$tmp/$asset.sha256" "$base/$asset.sha256"; then
    say "no prebuilt binary for $target at $base"
    return 1
  fi
  want=$(awk 'NR == 1 { print tolower($1) }' "$tmp/$asset.sha256")
  [[ $want =~ ^[0-9a-f]{64}$ ]] || die 1 "$asset.sha256 holds no SHA-256: refusing the download"
  got=$(sha256_of "$tmp/$asset")
  [[ $got == "$want" ]] || die 1 "checksum mismatch for $asset: published $want, downloaded $got; refusing to install it"
  mkdir -p "$tmp/x" "$install_root/bin" || die 1 "cannot create $install_root/bin"
  # Only the one member: nothing else in the archive is written anywhere.
  tar -xzf "$tmp/$asset" -C "$tmp/x" adsched || die 1 "$asset has no adsched binary at its top"
  # A temporary name, then a rename: a half-copied binary never has the real name.
  { cp "$tmp/x/adsched" "$bin.partial" && chmod 755 "$bin.partial" && mv -f "$bin.partial" "$bin"; } ||
    die 1 "cannot write $bin"
  return 0
}

if [[ $kind == tag && $target != none ]]; then
  if download; then finish "installed the $target release binary"; fi
elif [[ $kind == tag ]]; then
  say "no prebuilt binary for $(uname -s)/$(uname -m)"
else
  say "$version is not a release tag: there is no prebuilt binary for it"
fi

[[ ${ADSCHED_FALLBACK:-cargo} == cargo ]] || die 1 "not building from source (ADSCHED_FALLBACK=${ADSCHED_FALLBACK})"
command -v cargo > /dev/null || die 1 "building adsched from source needs cargo: install a Rust toolchain before this step"
git_url=${ADSCHED_GIT_URL:-https://github.com/$repository}
case $kind in
  tag) ref=(--tag "$version") ;;
  rev) ref=(--rev "$version") ;;
  branch) ref=(--branch "$version") ;;
esac
# Word splitting is wanted: the variable holds several arguments.
# shellcheck disable=SC2206
extra=(${ADSCHED_CARGO_INSTALL_ARGS:-})
say "building from source: cargo install --git $git_url ${ref[*]}"
# --locked: the versions the release was tested with, not whatever is newest.
# --force: a branch build replaces the previous one at the same root.
# ${extra[@]+...}: bash 3.2 (macOS's /bin/bash) calls an empty array unbound.
cargo install --locked --force --root "$install_root" --git "$git_url" "${ref[@]}" ${extra[@]+"${extra[@]}"} adsched ||
  die 1 "cargo install failed"
finish "built from source"
