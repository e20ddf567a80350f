# Shared helpers for scripts/run and scripts/test. Source it; do not run it.

# ensure_go fails with a clear message unless a Go toolchain >= 1.26 is on PATH.
ensure_go() {
	if ! command -v go >/dev/null 2>&1; then
		[ -x /usr/local/go/bin/go ] && PATH="/usr/local/go/bin:$PATH" && export PATH
	fi
	if ! command -v go >/dev/null 2>&1; then
		echo "potluck: Go 1.26 or newer is needed (https://go.dev/dl/)" >&2
		exit 1
	fi
	case "$(go env GOVERSION)" in
	go1.2[6-9]* | go1.[3-9][0-9]* | go[2-9]*) ;;
	*)
		echo "potluck: Go 1.26 or newer is needed, found $(go env GOVERSION)" >&2
		exit 1
		;;
	esac
}

# ensure_debs installs the Debian packages named that are not installed yet,
# and nothing else. It runs apt-get update only when an install needs it.
ensure_debs() {
	missing=""
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
	done
	[ -z "$missing" ] && return 0
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "potluck: please install:$missing" >&2
		exit 1
	fi
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	echo "potluck: installing$missing" >&2
	# shellcheck disable=SC2086
	if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
		$sudo apt-get update -q >/dev/null
		# shellcheck disable=SC2086
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
	fi
}
