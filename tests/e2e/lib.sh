# Helpers for the end-to-end tests; sourced by tests/e2e/t_*.sh.  Their
# variables start with an underscore, so callers' names are left alone.
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
	_c_name=$1
	shift
	if "$@"; then ok "$_c_name"; else not_ok "$_c_name"; fi
}

# expect_status WANT NAME CMD...: passes when CMD exits exactly WANT.
# Output goes to $T/last.out and $T/last.err.
expect_status() {
	_es_want=$1
	_es_name=$2
	shift 2
	"$@" >"$T/last.out" 2>"$T/last.err"
	_es_got=$?
	if [ "$_es_got" -eq "$_es_want" ]; then
		ok "$_es_name"
	else
		not_ok "$_es_name (exit $_es_got, want $_es_want)"
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

# SCEP payload in USER's profile of TEMPLATE, read as a device reads it:
# the CMS signature checked up to the root, then the plist parsed.
scep_field() {
	python3 - "$@" "$T/pki/root.pem" <<'EOF'
import csv, os, plistlib, subprocess, sys
rundir, user, tmpl, field, root = sys.argv[1:6]
with open(os.path.join(rundir, "manifest.csv"), newline="") as f:
    rows = [r for r in csv.DictReader(f)
            if r["user"] == user and r["template"] == tmpl]
if len(rows) != 1:
    sys.exit("no single manifest row for %s/%s" % (user, tmpl))
xml = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER",
                      "-in", os.path.join(rundir, rows[0]["file"]),
                      "-CAfile", root],
                     check=True, capture_output=True).stdout
p = plistlib.loads(xml)
scep = [c for c in p["PayloadContent"]
        if c["PayloadType"] == "com.apple.security.scep"]
sys.stdout.write(scep[0]["PayloadContent"][field])
EOF
}

# mkreq NAME CHALLENGE SUBJECT [SAN [KEYFILE]]: a request made by openssl
# req, $T/NAME.der and $T/NAME.pem, its key $T/NAME.key (or KEYFILE).
# SUBJECT is "O=x/CN=y".  (openssl req -subj would drop the attributes
# section, so the subject goes into the configuration too.)
mkreq() {
	r_name=$1 r_ch=$2 r_subj=$3 r_san=${4:-} r_key=${5:-}
	{
		printf '[req]\ndistinguished_name = dn\nattributes = attrs\n'
		printf 'prompt = no\nutf8 = yes\n[dn]\n'
		printf '%s\n' "$r_subj" | tr '/' '\n' | sed 's/=/ = /'
		printf '[attrs]\nchallengePassword = %s\n' "$r_ch"
	} >"$T/$r_name.cnf"
	set -- -new -config "$T/$r_name.cnf" -out "$T/$r_name.pem"
	if [ -n "$r_key" ]; then
		set -- "$@" -key "$r_key"
	else
		set -- "$@" -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout "$T/$r_name.key"
	fi
	if [ -n "$r_san" ]; then
		set -- "$@" -addext "subjectAltName=$r_san"
	fi
	openssl req "$@" 2>"$T/$r_name.log" &&
	    openssl req -in "$T/$r_name.pem" -outform DER -out "$T/$r_name.der"
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
