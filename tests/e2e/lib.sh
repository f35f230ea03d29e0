# Helpers for the end-to-end tests; sourced by tests/e2e/t_*.sh.
# Each check prints "ok - NAME" or "not ok - NAME".  The temporary
# directory is kept when anything failed, and its path printed.
set -u
TOP=${PROFACTORY_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
PF=${PROFACTORY_BIN:-$TOP/build/profactory}
T=$(mktemp -d "${TMPDIR:-/tmp}/pf-e2e.XXXXXX")
FAILED=0
export PROFACTORY_DB="$T/pf.db"
cd "$T" || exit 1

ok() { echo "ok - $1"; }
not_ok() {
	echo "not ok - $1"
	FAILED=1
}

# check NAME CMD...: passes when CMD exits 0.
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# expect_status WANT NAME CMD...: passes when CMD exits exactly WANT.
# Output goes to $T/last.out and $T/last.err.
expect_status() {
	want=$1
	name=$2
	shift 2
	"$@" >"$T/last.out" 2>"$T/last.err"
	got=$?
	if [ "$got" -eq "$want" ]; then
		ok "$name"
	else
		not_ok "$name (exit $got, want $want)"
		sed 's/^/#   stderr: /' "$T/last.err" | head -n 20
	fi
}

# err_has NAME TEXT: the last stderr contains TEXT.
err_has() {
	if grep -qF -- "$2" "$T/last.err"; then
		ok "$1"
	else
		not_ok "$1 (stderr lacks \"$2\")"
		sed 's/^/#   stderr: /' "$T/last.err" | head -n 20
	fi
}

# pki DIR [rsa|ec]: a throw-away PKI.
pki() {
	"$TOP/scripts/mkpki" "$1" "${2:-rsa}"
}

# signer_args DIR: the run flags for the PKI in DIR.
signer_args() {
	echo "--signer-cert $1/signer.pem --signer-key $1/signer.key" \
	    "--chain $1/chain.pem"
}

# no_profiles DIR: no .mobileconfig file anywhere below DIR.
no_profiles() {
	[ -z "$(find "$1" -name '*.mobileconfig' 2>/dev/null | head -n 1)" ]
}

finish() {
	cd / || true
	if [ "$FAILED" -ne 0 ]; then
		echo "# kept $T"
		exit 1
	fi
	rm -rf "$T"
	exit 0
}
