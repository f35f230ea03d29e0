# scep: profactory as the challenge authority of a real SCEP server.
# micromdm/scep's scepserver (Debian package scep) runs profactory through
# a profactory-verify-csr symlink (-csrverifierexec); scepclient enrols
# with the challenge and URL taken out of a signed profile as a device
# would.  SubjectAltName bindings, grace-period retries and a race are
# tested with requests made by openssl req, piped into verify-csr.
#
# scepserver has no flag to choose its listening address (it listens on
# every address of the given port).  When unprivileged namespaces work,
# the whole test re-runs in a private network namespace where only
# loopback exists; otherwise the server listens on the host's port and
# only 127.0.0.1 is ever contacted.
if [ -z "${PF_SCEP_NETNS:-}" ] && command -v unshare >/dev/null 2>&1; then
	ipcmd=$(PATH=$PATH:/sbin:/usr/sbin command -v ip 2>/dev/null)
	if [ -n "$ipcmd" ] &&
	    unshare -rn "$ipcmd" link set lo up 2>/dev/null; then
		export PF_SCEP_NETNS=1
		exec unshare -rn sh -c '"$1" link set lo up && exec sh "$0"' \
		    "$0" "$ipcmd"
	fi
fi
. "$(dirname "$0")/lib.sh"

if [ "${PF_SCEP_NETNS:-}" = 1 ]; then
	echo "# in a private network namespace (loopback only)"
else
	echo "# no private network namespace: scepserver listens on the host"
fi
for tool in scepserver scepclient openssl sqlite3 python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		not_ok "$tool is installed (scripts/install-deps)"
		finish
	fi
done

spid=
stop_server() {
	if [ -n "$spid" ]; then
		kill "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null
		spid=
	fi
}
trap stop_server EXIT
trap 'stop_server; exit 1' HUP INT TERM

# free_port: a random high port nothing listens on (scepserver binds
# every address, so the check does too).
free_port() {
	python3 - <<'EOF'
import random
import socket
for _ in range(200):
    port = random.randint(20000, 60999)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
EOF
}

# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() {
	python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()' \
	    "$1" 2>/dev/null
}

# start_server: scepserver on a free port, waited for (bounded); a port
# taken between the check and the bind makes it exit, then another try.
start_server() {
	tries=0
	while [ "$tries" -lt 5 ]; do
		tries=$((tries + 1))
		port=$(free_port)
		[ -n "$port" ] || continue
		scepserver -depot "$T/depot" -port "$port" -allowrenew 0 \
		    -csrverifierexec "$T/bin/profactory-verify-csr" \
		    >>"$T/scepserver.log" 2>&1 &
		spid=$!
		i=0
		while [ "$i" -lt 100 ] && kill -0 "$spid" 2>/dev/null; do
			if listening "$port"; then
				return 0
			fi
			sleep 0.1
			i=$((i + 1))
		done
		stop_server
	done
	return 1
}

# scep_field RUNDIR USER TEMPLATE FIELD: a field (URL, Challenge) of the
# enrol DIR CHALLENGE CN: scepclient in the fresh directory $T/DIR (it
# keeps csr.pem and self.pem in its working directory and reuses them);
# a key.pem already there is used, else one is made.
enrol() {
	mkdir -p "$T/$1" && (cd "$T/$1" && scepclient -server-url "$url" \
	    -challenge "$2" -cn "$3" -organization "Example Inc." -ou "" \
	    -country "" -private-key key.pem -certificate cert.pem)
}

# quiet CMD...: CMD without its chatter on standard output.
quiet() {
	"$@" >/dev/null
}

# keyfp KEYFILE: hex SHA-256 of the public key's SubjectPublicKeyInfo.
keyfp() {
	openssl pkey -in "$1" -pubout -outform DER | sha256sum | cut -d' ' -f1
}

# q SQL: one value from the database.
q() {
	sqlite3 "$PROFACTORY_DB" "$1"
}

# last_decision: "result|reason" of the newest decision.
last_decision() {
	q "SELECT result || '|' || reason FROM decisions ORDER BY id DESC
	    LIMIT 1"
}

# decided NAME WANT: the newest decision is WANT ("refused|reason").
decided() {
	got=$(last_decision)
	if [ "$got" = "$2" ]; then
		ok "$1"
	else
		not_ok "$1 (decision \"$got\", want \"$2\")"
	fi
}

# verify NAME [ARGS]: profactory verify-csr ARGS < $T/NAME.der
verify() {
	v_name=$1
	shift
	"$PF" verify-csr "$@" <"$T/$v_name.der"
}

# --- set-up: PKI, CA depot, server, templates, a run -------------------
pki "$T/pki" rsa
check "scepserver CA depot created" quiet scepserver ca -init -depot "$T/depot" \
    -keySize 2048 -organization "profactory test CA"
mkdir "$T/bin"
ln -s "$PF" "$T/bin/profactory-verify-csr"
check "the multi-call name's usage names it, without --db" sh -c \
    '"$0" --help | head -n 1 | grep -qx "usage: profactory-verify-csr \[--grace DURATION\] < CSR"' \
    "$T/bin/profactory-verify-csr"
expect_status 0 "init" "$PF" init
if ! start_server; then
	not_ok "scepserver listens on a free loopback port"
	sed 's/^/#   /' "$T/scepserver.log" | tail -n 20
	finish
fi
ok "scepserver listens on a free loopback port"
url="http://127.0.0.1:$port/scep"

# tmpl NAME SUBJECT-ARRAYS SAN-DICT: a template with one SCEP payload.
tmpl() {
	cat >"$T/$1.plist" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadContent</key>
	<array>
		<dict>
			<key>PayloadContent</key>
			<dict>
				<key>URL</key>
				<string>$url</string>
				<key>Subject</key>
				<array>$2</array>
				$3
				<key>Challenge</key>
				<string>{{challenge}}</string>
				<key>Keysize</key>
				<integer>2048</integer>
				<key>Key Type</key>
				<string>RSA</string>
				<key>Key Usage</key>
				<integer>5</integer>
			</dict>
			<key>PayloadIdentifier</key>
			<string>com.example.$1.{{user}}.scep</string>
			<key>PayloadType</key>
			<string>com.apple.security.scep</string>
			<key>PayloadUUID</key>
			<string>{{uuid:scep}}</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
		</dict>
	</array>
	<key>PayloadDisplayName</key>
	<string>$1 for {{name}}</string>
	<key>PayloadIdentifier</key>
	<string>com.example.$1.{{user}}</string>
	<key>PayloadType</key>
	<string>Configuration</string>
	<key>PayloadUUID</key>
	<string>{{uuid:profile}}</string>
	<key>PayloadVersion</key>
	<integer>1</integer>
</dict>
</plist>
EOF
}
rdn() {
	printf '<array><array><string>%s</string><string>%s</string></array></array>' \
	    "$1" "$2"
}
# scepid: what scepclient can request (Subject only); scepsan adds the
# SubjectAltName an Apple device would send.
tmpl scepid "$(rdn O 'Example Inc.')$(rdn CN '{{name}}')" ""
tmpl scepsan "$(rdn CN '{{name}}')" \
    "<key>SubjectAltName</key><dict><key>rfc822Name</key><string>{{email}}</string><key>ntPrincipalName</key><string>{{upn}}</string></dict>"
expect_status 0 "template add scepid" "$PF" template add scepid "$T/scepid.plist"
expect_status 0 "template add scepsan" "$PF" template add scepsan "$T/scepsan.plist"

printf '%s\r\n' 'email,name,upn,template' \
    'ana@example.com,Ana Lima,ana@corp.example,scepid;scepsan' \
    'bob@example.com,Bob Stone,bob@corp.example,scepid' \
    'dan@example.com,Dan Ray,dan@corp.example,scepid' \
    'erin@example.com,Erin Moss,erin@corp.example,scepsan' \
    'fay@example.com,Fay Wu,fay@corp.example,scepid;scepsan' >users.csv
expect_status 0 "run issues the profiles" "$PF" run --csv users.csv \
    --out out $(signer_args "$T/pki")
run="out/$(readlink out/latest)"
check "bindings recorded for the SubjectAltName template" [ \
    "$(q "SELECT count(*) FROM bindings b JOIN profiles p ON p.id = b.profile_id
	JOIN templates t ON t.id = p.template_id
	WHERE t.name = 'scepsan' AND b.kind = 'san'")" = 6 ]

# The device's view: URL and challenge out of the signed profile.
for u in ana bob dan erin fay; do
	for t in scepid scepsan; do
		grep -q "^[0-9]*,$u@example.com,$t," "$run/manifest.csv" ||
		    continue
		scep_field "$run" "$u@example.com" $t Challenge >"$T/$u.$t.ch" ||
		    not_ok "challenge of $u/$t read from the signed profile"
	done
done
check "URL read from the signed profile" \
    [ "$(scep_field "$run" ana@example.com scepid URL)" = "$url" ]
check "challenges are 32 characters" \
    [ "$(wc -c <"$T/ana.scepid.ch")" -eq 32 ]

# --- enrolment through scepserver --------------------------------------
expect_status 0 "ana enrols with her profile's challenge" \
    enrol e-ana "$(cat "$T/ana.scepid.ch")" "Ana Lima"
check "a certificate was issued" [ -s "$T/e-ana/cert.pem" ]
check "the certificate chains to the SCEP CA" \
    quiet openssl verify -CAfile "$T/depot/ca.pem" "$T/e-ana/cert.pem"
check "the certificate is for CN=Ana Lima" sh -c "openssl x509 -in \
    '$T/e-ana/cert.pem' -noout -subject -nameopt RFC2253 | grep -q 'CN=Ana Lima'"
check "the certificate carries the enrolled key" [ \
    "$(openssl x509 -in "$T/e-ana/cert.pem" -noout -pubkey | md5sum)" = \
    "$(openssl pkey -in "$T/e-ana/key.pem" -pubout | md5sum)" ]
decided "decision recorded: approved" "approved|challenge accepted"
fp=$(keyfp "$T/e-ana/key.pem")
check "the challenge is used by that key" [ "$(q "SELECT used_key_sha256
    FROM challenges WHERE used_at IS NOT NULL")" = "$fp" ]
check "the decision names the challenge and the key" [ "$(q "SELECT
    d.key_sha256 = c.used_key_sha256 AND d.challenge_id = c.id FROM decisions
    d JOIN challenges c ON c.id = d.challenge_id ORDER BY d.id DESC
    LIMIT 1")" = 1 ]

mkdir "$T/e-ana-retry"
cp "$T/e-ana/key.pem" "$T/e-ana-retry/key.pem"
expect_status 0 "a retry with the same key is approved again" \
    enrol e-ana-retry "$(cat "$T/ana.scepid.ch")" "Ana Lima"
decided "decision: retry" "approved|retry by the same key within the grace period"

expect_status 1 "the same challenge with a new key is refused" \
    enrol e-ana-2 "$(cat "$T/ana.scepid.ch")" "Ana Lima"
check "no certificate for the new key" [ ! -e "$T/e-ana-2/cert.pem" ]
decided "decision: already used" "refused|challenge already used"

expect_status 1 "a wrong challenge is refused" \
    enrol e-wrong "wrong-$(cat "$T/dan.scepid.ch")" "Dan Ray"
decided "decision: unknown challenge" "refused|unknown challenge"

expect_status 1 "another user's challenge with ana's subject is refused" \
    enrol e-steal "$(cat "$T/dan.scepid.ch")" "Ana Lima"
decided "decision: subject does not match" "refused|subject CN does not match"
expect_status 0 "the refusal consumed nothing: dan still enrols" \
    enrol e-dan "$(cat "$T/dan.scepid.ch")" "Dan Ray"

expect_status 0 "revoke bob" "$PF" revoke --user bob@example.com
check "revoke prints the count" \
    grep -qx 'revoked 1 challenge of user "bob@example.com"' "$T/last.out"
expect_status 1 "a revoked challenge is refused" \
    enrol e-bob "$(cat "$T/bob.scepid.ch")" "Bob Stone"
decided "decision: revoked" "refused|challenge revoked"

expect_status 0 "revoke one template of fay" "$PF" revoke \
    --user fay@example.com --template scepsan
check "only that template's challenge is revoked" [ "$(q "SELECT
    group_concat(t.name || ':' || coalesce(c.revoke_reason, '-')) FROM
    challenges c JOIN templates t ON t.id = c.template_id JOIN users u ON
    u.id = c.user_id WHERE u.key = 'fay@example.com' ORDER BY t.name")" = \
    "scepid:-,scepsan:revoked" ]
expect_status 0 "fay's other challenge still enrols" \
    enrol e-fay "$(cat "$T/fay.scepid.ch")" "Fay Wu"
expect_status 65 "revoke of an unknown user" "$PF" revoke --user nobody@example.com
err_has "unknown user named" 'user "nobody@example.com" not found'
expect_status 64 "revoke without --user" "$PF" revoke

# An expired challenge: issued with the shortest TTL, then the clock of
# the database moved two minutes on (issued and expiry shifted back).
printf 'email,name,upn,template\r\ncarl@example.com,Carl Ode,carl@corp.example,scepid\r\n' >carl.csv
expect_status 0 "run with --ttl 1m" "$PF" run --csv carl.csv --out out \
    --ttl 1m $(signer_args "$T/pki")
scep_field "out/$(readlink out/latest)" carl@example.com scepid Challenge \
    >"$T/carl.scepid.ch"
sqlite3 "$PROFACTORY_DB" "UPDATE challenges SET issued_at = issued_at - 120,
    expires_at = expires_at - 120 WHERE user_id = (SELECT id FROM users
    WHERE key = 'carl@example.com')"
expect_status 1 "an expired challenge is refused" \
    enrol e-carl "$(cat "$T/carl.scepid.ch")" "Carl Ode"
decided "decision: expired" "refused|challenge expired"

expect_status 1 "scepclient cannot send the SubjectAltName a template binds" \
    enrol e-ana-san "$(cat "$T/ana.scepsan.ch")" "Ana Lima"
decided "decision: SubjectAltName missing" \
    "refused|subjectAltName rfc822Name does not match"

# --- SubjectAltName bindings, with requests made by openssl req --------
ch=$(cat "$T/ana.scepsan.ch")
upn="otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ana@corp.example"
mkreq r-bob "$ch" "CN=Ana Lima" "email:bob@example.com,$upn"
expect_status 1 "SAN rfc822Name of another user is refused" verify r-bob
err_has "the reason is on stderr" \
    "profactory: verify-csr: subjectAltName rfc822Name does not match"
mkreq r-dns "$ch" "CN=Ana Lima" "DNS:ana@example.com,$upn"
expect_status 1 "the value as another SAN type is refused" verify r-dns
mkreq r-noupn "$ch" "CN=Ana Lima" "email:ana@example.com"
expect_status 1 "a missing ntPrincipalName is refused" verify r-noupn
err_has "reason names ntPrincipalName" \
    "subjectAltName ntPrincipalName does not match"
mkreq r-cn "$ch" "CN=Bob Stone" "email:ana@example.com,$upn"
expect_status 1 "the right SAN with another subject is refused" verify r-cn
err_has "reason names the subject attribute" "subject CN does not match"
check "refusals consumed nothing" [ "$(q "SELECT count(*) FROM challenges c
    JOIN templates t ON t.id = c.template_id JOIN users u ON u.id = c.user_id
    WHERE u.key = 'ana@example.com' AND t.name = 'scepsan'
    AND c.used_at IS NULL")" = 1 ]
# A name the profile does not carry, even of a type it does not bind, would
# be in the certificate too.
mkreq r-extra "$ch" "CN=Ana Lima" \
    "email:ana@example.com,$upn,DNS:laptop.example.com"
expect_status 1 "an extra SAN name is refused" verify r-extra
err_has "reason names it" \
    "subjectAltName: the request carries a name the profile does not"
mkreq r-two "$ch" "0.CN=Ana Lima/1.CN=Admin" "email:ana@example.com,$upn"
expect_status 1 "a second CN is refused" verify r-two
err_has "reason names the CN" \
    "subject CN: the request carries a value the profile does not"
# Subject attributes of types the template does not fill are the client's.
mkreq r-ana "$ch" "O=Anything/CN=Ana Lima" "email:ana@example.com,$upn"
expect_status 0 "the rightful request is approved (PEM on stdin)" \
    sh -c '"$0" verify-csr <"$1"' "$PF" "$T/r-ana.pem"
expect_status 0 "its retry is approved (DER on stdin)" verify r-ana
expect_status 0 "the multi-call name works without arguments" \
    sh -c '"$0" <"$1"' "$T/bin/profactory-verify-csr" "$T/r-ana.der"
mkreq r-ana2 "$ch" "CN=Ana Lima" "email:ana@example.com,$upn"
expect_status 1 "the same challenge with another key is refused" verify r-ana2
err_has "reason" "challenge already used"
sqlite3 "$PROFACTORY_DB" "UPDATE challenges SET used_at = used_at - 7200
    WHERE used_key_sha256 = '$(keyfp "$T/r-ana.key")'"
expect_status 1 "a retry after the grace period is refused" verify r-ana
err_has "reason" "challenge already used (grace period over)"
expect_status 0 "--grace 3h approves it" verify r-ana --grace 3h
expect_status 0 "PROFACTORY_GRACE=3h approves it" \
    env PROFACTORY_GRACE=3h "$PF" verify-csr <"$T/r-ana.der"
expect_status 64 "a bad --grace is a usage error" verify r-ana --grace soon

printf '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = x\n' \
    >"$T/nochal.cnf"
openssl req -new -config "$T/nochal.cnf" -newkey ec \
    -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/nochal.key" \
    -outform DER -out "$T/nochal.der" 2>/dev/null
expect_status 1 "a request without a challenge is refused" verify nochal
err_has "reason" "no challenge in request"
head -c 300 /dev/urandom >"$T/junk.der"
expect_status 1 "garbage is refused" verify junk
err_has "reason" "malformed request"
# One byte of the signature inverted (set to a fixed value, it was
# sometimes that value already, and the request still good).
python3 - "$T/r-ana.der" "$T/flip.der" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-3] ^= 0xff
open(sys.argv[2], "wb").write(b)
PY
check "the broken request differs from the good one" \
    sh -c '! cmp -s "$1" "$2"' sh "$T/r-ana.der" "$T/flip.der"
expect_status 1 "a request with a broken signature is refused" verify flip
err_has "reason" "bad request signature"
expect_status 66 "a missing database is status 66" \
    env PROFACTORY_DB="$T/nope.db" "$PF" verify-csr <"$T/r-ana.der"

# --- concurrency: keys racing for one challenge ------------------------
ch=$(cat "$T/erin.scepsan.ch")
i=0
while [ "$i" -lt 8 ]; do
	mkreq "race$i" "$ch" "CN=Erin Moss" \
	    "email:erin@example.com,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:erin@corp.example"
	i=$((i + 1))
done
pids=
i=0
while [ "$i" -lt 8 ]; do
	( verify "race$i" 2>/dev/null; echo $? >"$T/race$i.rc" ) &
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do
	wait "$p"
done
check "eight keys racing for one challenge: exactly one approved" [ \
    "$(cat "$T"/race*.rc | sort | tr '\n' ' ')" = "0 1 1 1 1 1 1 1 " ]

# --- the decisions table ----------------------------------------------
check "every decision has a result and a reason" [ "$(q "SELECT count(*)
    FROM decisions WHERE result NOT IN ('approved', 'refused') OR reason
    = ''")" = 0 ]
check "approvals recorded" [ "$(q "SELECT count(*) FROM decisions WHERE
    result = 'approved'")" = 10 ]
check "approvals name their challenge and key" [ "$(q "SELECT count(*)
    FROM decisions WHERE result = 'approved' AND (challenge_id IS NULL OR
    key_sha256 IS NULL)")" = 0 ]
check "refusals of known challenges name them" [ "$(q "SELECT count(*)
    FROM decisions WHERE reason IN ('challenge already used',
    'challenge revoked', 'challenge expired', 'subject CN does not match')
    AND challenge_id IS NULL")" = 0 ]
leak=0
for f in "$T"/*.ch; do
	c=$(cat "$f")
	if grep -rqF -- "$c" "$T/scepserver.log" "$T/last.err" "$run"/manifest.* ||
	    [ "$(q "SELECT count(*) FROM decisions WHERE instr(reason, '$c')")" != 0 ]
	then
		leak=1
	fi
done
check "no challenge in decisions, logs or manifests" [ "$leak" = 0 ]
check "scepserver is still running" kill -0 "$spid"
stop_server
finish
