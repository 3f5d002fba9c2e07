#!/bin/sh
# A complete keyshift `command` store (protocol v1, docs/stores/command.md) in POSIX sh and jq.
# It keeps each entry in <config.dir>/<key>.json: {"versions":[{id,stages,createdAt,value}],"state":…}
# and the store-wide meta in <config.dir>/_meta.json, each replaced atomically (temp file + mv).
# It is an example: values sit in those files unencrypted (mode 0600). A real store talks to a
# service here instead. It records its own argv and environment when config.recordDir is set, so
# the tests can check that no value ever reaches them.
set -eu
umask 077

request=$(cat)
# The request's plain fields in one jq run (each process start costs more than the work): @sh
# quotes them for eval. Values travel only in .ops, which stays in $request.
eval "$(printf '%s' "$request" | jq -r '(.op // "") as $op | @sh "op=\($op) dir=\(.config.dir // "") protocol=\(.protocol // "" | tostring) record=\(.config.recordDir // "") misbehave=\(.config.misbehave[$op] // "") key=\(.key // "") versionId=\(.versionId // "")"')"

reply() { printf '%s\n' "$1"; exit 0; }
fail() { jq -nc --arg code "$1" --arg message "$2" '{error:{code:$code,message:$message}}'; exit 1; }

[ "$protocol" = 1 ] || fail UNSUPPORTED "protocol $protocol is not supported"
[ -n "$dir" ] || fail REFUSED 'config.dir is required'
mkdir -p "$dir"

if [ -n "$record" ]; then
  mkdir -p "$record"
  cat "/proc/$$/cmdline" > "$record/cmdline.$$" 2>/dev/null || true
  cat "/proc/$$/environ" > "$record/environ.$$" 2>/dev/null || true
fi

# Test hooks (never in a real store): misbehave on purpose for one op.
case "$misbehave" in
  garbage) echo 'this is not JSON'; exit 0 ;;
  hang) sleep 60 ;;
  crash) echo 'oops' >&2; exit 7 ;;
esac

case "$key" in */../*|../*|*/..|..) fail REFUSED 'bad key' ;; esac
file="$dir/$(printf '%s' "$key" | tr '/' '%').json"
entry() { if [ -f "$file" ]; then cat "$file"; else echo null; fi; }
# The reply to read and apply: the entry without its values.
public() { jq -c '{entry: (if . == null then null else {versions: [.versions[] | {id, stages, createdAt}], state} end)}'; }
save() { tmp="$1.$$.tmp"; cat > "$tmp"; mv "$tmp" "$1"; }

case "$op" in
  read)
    reply "$(entry | public)" ;;
  readValue)
    id=$versionId
    value=$(entry | jq -c --arg id "$id" 'if . == null then null else (.versions[] | select(.id == $id) | .value) end')
    [ -n "$value" ] && [ "$value" != null ] || fail NOT_FOUND "version $id is not in $key"
    reply "{\"value\":$value}" ;;
  apply)
    now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
    # Each op with the meaning of keyshift's contract, each idempotent; the whole entry replaced at once.
    # The request (with the values) reaches jq on stdin, never in its argv.
    [ -f "$file" ] && current="$file" || current=/dev/null
    next=$(printf '%s' "$request" | jq -c --slurpfile e "$current" --arg now "$now" '
      def stage_holder($s): [.versions[] | select(.stages | index($s))][0].id;
      . as $req | ($e[0]) as $e
      | reduce $req.ops[] as $op (($e // {versions: [], state: null});
        if $op.type == "create" then
          if any(.versions[]; .id == $op.versionId) then .
          elif $op.stage == "CURRENT" and stage_holder("CURRENT") != null then error("REFUSED:a CURRENT version exists")
          else .versions += [{id: $op.versionId, stages: [$op.stage], createdAt: $now, value: $op.value}] end
        elif $op.type == "promote" then
          if stage_holder("CURRENT") == $op.versionId then .
          elif any(.versions[]; .id == $op.versionId) | not then error("NOT_FOUND:no version " + $op.versionId)
          else
            (stage_holder("CURRENT")) as $old
            | .versions |= map(select((.stages | index("PREVIOUS")) == null or .id == $op.versionId))
            | .versions |= map(if .id == $op.versionId then .stages = ["CURRENT"] elif .id == $old then .stages = ["PREVIOUS"] else . end)
          end
        elif $op.type == "retire" then
          if stage_holder("CURRENT") == $op.versionId then error("REFUSED:cannot retire the CURRENT version")
          else .versions |= map(select(.id != $op.versionId)) end
        else error("UNSUPPORTED:op " + $op.type) end)
      | .state = $req.state' 2>&1) || {
        code=$(printf '%s' "$next" | sed -n 's/^jq: error.*): \([A-Z_]*\):.*/\1/p')
        fail "${code:-REFUSED}" "$(printf '%s' "$next" | sed -n 's/^jq: error.*): [A-Z_]*:\(.*\)/\1/p' | cut -c1-200)"
      }
    printf '%s\n' "$next" | save "$file"
    reply "$(printf '%s' "$next" | public)" ;;
  readMeta)
    if [ -f "$dir/_meta.json" ]; then reply "{\"meta\":$(cat "$dir/_meta.json")}"; else reply '{"meta":null}'; fi ;;
  writeMeta)
    printf '%s' "$request" | jq -c '.meta' | save "$dir/_meta.json"
    reply '{}' ;;
  *)
    fail UNSUPPORTED "op $op is not supported" ;;
esac
