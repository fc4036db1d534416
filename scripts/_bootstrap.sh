# Shared by scripts/run and scripts/test: a Python >= 3.11 virtualenv in ./.venv with Sésame installed.
# Sourced, not executed. Set PYTHON to choose the interpreter.

find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "error: Sésame needs Python 3.11 or newer (apt-get install python3), or set PYTHON" >&2
    return 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else return 1; fi
}

apt_install() {
    # Debian/Ubuntu packages, installed only when missing; a no-op elsewhere.
    command -v apt-get >/dev/null 2>&1 || return 0
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing ${missing[*]}" >&2
    if [ ! -f /var/lib/apt/periodic/sesame-updated ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null)" ]; then
        as_root apt-get update -qq && as_root mkdir -p /var/lib/apt/periodic &&
            as_root touch /var/lib/apt/periodic/sesame-updated
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

bootstrap() {
    # $1: the pip extra to install ("" for the service, "dev" for tests and linters)
    local python extra=${1:-}
    python=$(find_python) || return 1
    if [ ! -x .venv/bin/python ]; then
        if ! "$python" -m venv .venv 2>/dev/null; then
            rm -rf .venv
            apt_install python3-venv
            "$python" -m venv .venv
        fi
    fi
    local spec="."
    [ -n "$extra" ] && spec=".[$extra]"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec" 2>&1 | grep -v '^WARNING: Location' >&2 || true
    .venv/bin/python -c 'import sesame, pyrad, fastapi, sqlalchemy' || {
        echo "error: installing Sésame's dependencies failed (see above)" >&2
        return 1
    }
}

npm_ci() {
    # The npm packages of package.json at the versions and integrity hashes of package-lock.json,
    # into ./node_modules (no install scripts run). The front-end files the app serves are already
    # in portal/vendor/ (committed): the service needs no Node; tests and scripts/vendor-assets do.
    command -v npm >/dev/null 2>&1 || apt_install npm || return 1
    # already done for this lock file: nothing to fetch (npm ci would remove and reinstall)
    cmp -s package-lock.json node_modules/.sesame-installed-lock 2>/dev/null && return 0
    npm ci --ignore-scripts --no-audit --no-fund --silent && cp package-lock.json node_modules/.sesame-installed-lock
}
