# Shared by the CLI test scripts (source it after setting TMP to a scratch directory).
# Each check prints "ok" or "FAIL" with the command's output; finish_checks prints
# "N passed, M failed" and returns non-zero when anything failed.
# RUN_TIME_LIMIT (seconds, default 600) bounds every command run() starts.

passed=0
failed=0
last_command=""
status=0

# run CMD...: runs a command with a time limit and no standard input, keeping its exit
# status and output for the checks below.
run() {
  last_command="$*"
  timeout "${RUN_TIME_LIMIT:-600}" "$@" >"$TMP/stdout" 2>"$TMP/stderr" </dev/null
  status=$?
}

pass() {
  passed=$((passed + 1))
  echo "ok    $1"
}

# fail NAME WHY: the command and the start of its output, control characters made
# visible (cat -v), so a failing check never writes raw escapes to the log.
fail() {
  failed=$((failed + 1))
  echo "FAIL  $1: $2"
  echo "      command: $(printf '%q' "$last_command") (exit $status)"
  head -c 4000 "$TMP/stdout" | cat -v | sed -e 's/^/      stdout: /' | head -30
  head -c 4000 "$TMP/stderr" | cat -v | sed -e 's/^/      stderr: /' | head -20
}

# expect_status NAME WANT: the last command exited with WANT.
expect_status() {
  if [ "$status" -eq "$2" ]; then pass "$1"; else fail "$1" "exit status $status, expected $2"; fi
}

# expect_out NAME stdout|stderr REGEX: the last command's stream matches REGEX (grep -E).
expect_out() {
  if grep -Eq -- "$3" "$TMP/$2"; then pass "$1"; else fail "$1" "$2 does not match /$3/"; fi
}

# expect_no_out NAME stdout|stderr REGEX: the stream does not match.
expect_no_out() {
  if grep -Eq -- "$3" "$TMP/$2"; then fail "$1" "$2 matches /$3/"; else pass "$1"; fi
}

# expect_text NAME stdout|stderr TEXT: the stream holds TEXT verbatim (for paths).
expect_text() {
  if grep -Fq -- "$3" "$TMP/$2"; then pass "$1"; else fail "$1" "$2 does not contain '$3'"; fi
}

# expect_count NAME stdout|stderr REGEX N: exactly N lines of the stream match REGEX.
expect_count() {
  local n
  n=$(grep -Ec -- "$3" "$TMP/$2")
  if [ "$n" -eq "$4" ]; then pass "$1"; else fail "$1" "$n lines of $2 match /$3/, expected $4"; fi
}

finish_checks() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
