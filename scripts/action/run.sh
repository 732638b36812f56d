#!/usr/bin/env bash
# Runs `adsched validate` with the GitHub Action's inputs, from the current
# folder (the workflow's checkout), so annotations name repository paths.
#
#   ADSCHED_BIN      the binary (default: adsched on PATH)
#   INPUT_PATH       schedule files or folders, one a line (default schedules)
#   INPUT_TEMPLATES  the template pool (default templates)
#   INPUT_FORMAT     human, json or github (default github)
#
# Exit status is validate's: 0 valid (warnings allowed), 1 errors, 2 usage or
# I/O error (a missing path, a folder without schedule files).
set -euo pipefail

bin=${ADSCHED_BIN:-adsched}
format=${INPUT_FORMAT:-github}
templates=${INPUT_TEMPLATES-templates}

# One path a line, so that a path may hold spaces; blank lines are skipped.
paths=()
while IFS= read -r line; do
  line=${line#"${line%%[![:space:]]*}"}
  line=${line%"${line##*[![:space:]]}"}
  [[ -z $line ]] || paths+=("$line")
done <<< "${INPUT_PATH:-schedules}"
((${#paths[@]})) || paths=(schedules)

# validate's own default is ./templates, which may be missing (an empty pool);
# a folder named explicitly must exist. Passing the default on would turn a
# repository without templates into an error, so only a different one is passed.
args=()
if [[ -n $templates && $templates != templates && $templates != ./templates ]]; then
  args=(--templates "$templates")
fi

# Colour codes would end up inside the annotations and the log.
export NO_COLOR=1
set -x
exec "$bin" validate "${paths[@]}" ${args[@]+"${args[@]}"} --format "$format"
