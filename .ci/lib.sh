# Shared by the .ci scripts (sourced): a fresh virtualenv with the project's own install,
# Debian's PgBouncer for the pooler tests (tests/poolers.py), and Debian's headless Chromium
# for the pages checked as a reader sees them (tests/e2e/test_pages_in_chromium.py).

ci_venv() {
    python3 -m venv .venv-ci
    . .venv-ci/bin/activate
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet -e '.[test,lint]'
}

ci_pgbouncer() {
    if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
        local sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
        $sudo apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer
    fi
}

ci_chromium() {
    local browser
    for browser in chromium-headless-shell chromium chromium-browser google-chrome; do
        if command -v "$browser" >/dev/null; then
            echo "$browser: $("$browser" --version 2>/dev/null || true)"
            return 0
        fi
    done
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell
    chromium-headless-shell --version
}

# ci_tests NAME MAJOR COMMAND...: one pytest run (COMMAND) on PostgreSQL MAJOR (the embedded
# one when MAJOR is empty), its outcome kept in ci_results; never stops the script (every run
# is reported). Any exit but 0 is a failure, 5 (pytest: no tests collected) included.
ci_results=()
ci_failed=0
ci_tests() {
    local name="$1" major="$2" code=0 started=$SECONDS
    shift 2
    echo "== tests: $name"
    MIGRATOR_TEST_PG="$major" "$@" || code=$?
    local took=$((SECONDS - started))
    if [ "$code" -eq 0 ]; then
        ci_results+=("passed  $name (${took}s)")
    else
        [ "$code" -eq 5 ] && name="$name: no tests collected"
        ci_results+=("FAILED  $name (exit $code, ${took}s)")
        ci_failed=1
    fi
}

ci_summary() {
    echo "== summary"
    printf '%s\n' "${ci_results[@]}"
    return "$ci_failed"
}
