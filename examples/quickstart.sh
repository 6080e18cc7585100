#!/usr/bin/env bash
# Ferry's quickstart on the embedded local store: makes a small model and a fine-tune of it, pushes both,
# tags, diffs, rolls back, pulls and verifies, and checks the pulled files are byte-identical.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ferry="$root/ferry"
work="${FERRY_QUICKSTART_DIR:-$(mktemp -d -t ferry-quickstart.XXXXXX)}"
export FERRY_STORE="$work/store"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

python3 "$root/examples/make_model.py" "$work/tiny-llama"
python3 "$root/examples/make_model.py" "$work/tiny-llama-ft" --finetune

step ferry init;                                       "$ferry" init
step ferry push tiny-llama tiny-llama -m base;         v1=$("$ferry" push "$work/tiny-llama" tiny-llama -m "base"); echo "$v1"
step "ferry push tiny-llama tiny-llama -m base   (again: up to date)"; "$ferry" push "$work/tiny-llama" tiny-llama -m "base"
step ferry push tiny-llama-ft tiny-llama:candidate;    v2=$("$ferry" push "$work/tiny-llama-ft" tiny-llama:candidate -m "fine-tune"); echo "$v2"
step ferry tag "tiny-llama@${v1:0:8}" prod;            "$ferry" tag "tiny-llama@${v1:0:8}" prod
step ferry tag tiny-llama:candidate prod --expect v1;  "$ferry" tag tiny-llama:candidate prod --expect "$v1"
step ferry ls;                                         "$ferry" ls
step ferry log tiny-llama;                             "$ferry" log tiny-llama
step ferry diff "tiny-llama@${v1:0:8}" tiny-llama:candidate; "$ferry" diff "tiny-llama@${v1:0:8}" tiny-llama:candidate
step ferry rollback tiny-llama:prod;                   "$ferry" rollback tiny-llama:prod
step ferry pull tiny-llama:prod out --verify;          "$ferry" pull tiny-llama:prod "$work/out" --verify
step ferry cat tiny-llama:prod//config.json;           "$ferry" cat tiny-llama:prod//config.json
step ferry verify;                                     "$ferry" verify
step ferry stats;                                      "$ferry" stats

step diff -r tiny-llama out
diff -r "$work/tiny-llama" "$work/out" && echo "pulled files are byte-identical to the pushed ones"
echo
echo "store and files are in $work"
