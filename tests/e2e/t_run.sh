# run: a batch of awkward users through the example templates, checked
# with openssl, plistlib and sqlite3; bad input gives the right status.
. "$(dirname "$0")/lib.sh"

pki "$T/pki" rsa
expect_status 0 "init creates the database" "$PF" init
check "database is mode 0600" [ "$(stat -c %a "$T/pf.db")" = 600 ]
expect_status 0 "init is idempotent" "$PF" init
for t in scep wifi-eaptls vpn-ikev2; do
	expect_status 0 "template add $t" "$PF" template add "${t%%-*}" \
	    "$TOP/templates/$t.plist"
done

cat "$TOP/scripts/sample-users.csv" > users.csv
printf '%s\r\n' '"eve@example.com","Eve ""<script>"" O'"'"'Neil, & Sons",Sec,scep' \
    '=cmd@example.com,"Formula =1+1",X,scep' >> users.csv
expect_status 0 "run over awkward users" "$PF" run --csv users.csv \
    --out out $(signer_args "$T/pki") --jobs 2
run=$(readlink out/latest)
check "latest points at the run" [ -d "out/$run" ]
python3 "$TOP/tests/e2e/check_run.py" "out/$run" users.csv "$T/pki/root.pem" \
    "$T/pf.db" || FAILED=1
check "profiles recorded in the database" \
    [ "$(sqlite3 "$T/pf.db" 'SELECT count(*) FROM profiles')" = \
      "$(ls out/"$run"/*.mobileconfig | wc -l)" ]
check "challenges stored as 32-byte digests" \
    [ "$(sqlite3 "$T/pf.db" 'SELECT count(*) FROM challenges WHERE length(digest) = 32')" = \
      "$(sqlite3 "$T/pf.db" 'SELECT count(*) FROM challenges')" ]
check "formula cells neutralised in manifest.csv" \
    grep -q "'=cmd@example.com" "out/$run/manifest.csv"
check "runs lists the run" sh -c "'$PF' runs | grep -q '$run'"

# Where the file system keeps the "top of directory hierarchies" attribute
# (ext2/3/4, as lsattr shows it), the run set it on OUT, so that run folders
# are spread over the disk.
mkdir probe-t
if chattr +T probe-t 2>/dev/null &&
    lsattr -d probe-t 2>/dev/null | cut -d' ' -f1 | grep -q T; then
	check "OUT is marked as a top of directory hierarchies" \
	    sh -c "lsattr -d out | cut -d' ' -f1 | grep -q T"
else
	ok "OUT marked as a top of directory hierarchies # skip: no T attribute on this file system"
fi

# Bad input: exact statuses, messages naming the file, nothing written.
printf '<plist><dict><key>x</key>\n' > broken.plist
expect_status 65 "template that does not parse" "$PF" template add broken broken.plist
err_has "parse error names the file" "broken.plist"
sed 's|<integer>2048</integer>|<string>2048</string>|' "$TOP/templates/scep.plist" > badtype.plist
expect_status 65 "SCEP Keysize of the wrong type" "$PF" template add badtype badtype.plist
err_has "type error names the key path" "Keysize"

printf 'mail,name,template\r\nx@example.com,X,scep\r\n' > nokey.csv
expect_status 65 "CSV without the key column" "$PF" run --csv nokey.csv \
    --out bad1 $(signer_args "$T/pki")
err_has "missing key column names the file and line" "nokey.csv:1:"
check "nothing written without the key column" no_profiles bad1
check "no output folder made for a CSV without the key column" [ ! -e bad1 ]

expect_status 78 "key does not match the certificate" "$PF" run --csv users.csv \
    --out bad2 --signer-cert "$T/pki/signer.pem" --signer-key "$T/pki/other.key" \
    --chain "$T/pki/chain.pem"
err_has "mismatch names the key file" "other.key"
check "nothing written on key mismatch" no_profiles bad2

expect_status 78 "expired signer" "$PF" run --csv users.csv --out bad3 \
    --signer-cert "$T/pki/signer-expired.pem" \
    --signer-key "$T/pki/signer-expired.key" --chain "$T/pki/chain.pem"
err_has "expiry names the certificate" "signer-expired.pem"
check "nothing written with an expired signer" no_profiles bad3
check "no output folder made for a bad signer" sh -c '[ ! -e bad2 ] && [ ! -e bad3 ]'

expect_status 66 "missing CSV" "$PF" run --csv nope.csv --out bad4 \
    $(signer_args "$T/pki")
check "no output folder made for a missing CSV" [ ! -e bad4 ]
expect_status 64 "passphrase on the command line is refused" "$PF" run \
    --csv users.csv --out bad5 $(signer_args "$T/pki") --key-pass hunter2

printf 'email,name,template\r\nok@example.com,Ok,scep\r\n,Empty,scep\r\nok@example.com,Dup,scep\r\nz@example.com,Z,nosuch\r\n' > rows.csv
expect_status 65 "strict run with bad rows" "$PF" run --csv rows.csv \
    --out bad6 --strict $(signer_args "$T/pki")
err_has "strict names file and line" "rows.csv:3:"
check "strict writes nothing" no_profiles bad6
check "strict makes no output folder" [ ! -e bad6 ]
expect_status 1 "bad rows are skipped and the run ends with status 1" \
    "$PF" run --csv rows.csv --out rows $(signer_args "$T/pki")
check "failed rows are in the manifest" \
    [ "$(grep -c ',failed,' rows/latest/manifest.csv)" = 3 ]
check "the good row was issued" \
    [ "$(ls rows/latest/*.mobileconfig | wc -l)" = 1 ]

# Control characters quoted from the CSV cannot start a line of their own.
printf 'email,name,template\na@example.com,A,"sc\nprofactory: FAKE"\n"b\rx@example.com",B,scep\n"b\rx@example.com",B,scep\n' > ctl.csv
expect_status 1 "rows with line breaks in their data" "$PF" run --csv ctl.csv \
    --out ctl $(signer_args "$T/pki")
check "no forged line on stderr" sh -c '! grep -q "^profactory: FAKE" "$0"' \
    "$T/last.err"
err_has "the line break is written out" 'template "sc\nprofactory: FAKE"'
err_has "the carriage return is written out" 'duplicate key "b\rx@example.com"'

# --template and --out are checked before anything is written.
expect_status 65 "--template naming no template" "$PF" run --csv users.csv \
    --template scpe --out typo $(signer_args "$T/pki")
err_has "the error names it" 'template "scpe" not found'
check "nothing written for an unknown --template" no_profiles typo
check "no output folder made for an unknown --template" [ ! -e typo ]
expect_status 64 "--out empty" "$PF" run --csv users.csv --out '' \
    $(signer_args "$T/pki")
expect_status 64 "--db empty" "$PF" --db '' runs
err_has "the error names --db" "--db: empty path"
mkdir -p lat/latest
expect_status 73 "OUT/latest that is a folder" "$PF" run --csv users.csv \
    --out lat $(signer_args "$T/pki")
err_has "the error names OUT/latest" "lat/latest: not a symbolic link"
check "no run folder left behind" [ "$(ls lat)" = latest ]

# Templates whose names differ only in case keep their own profile in
# OUT/current/, through a reissue of one and the revocation of the other.
"$PF" template add WiFi "$TOP/templates/scep.plist" >/dev/null &&
    "$PF" template add wifi "$TOP/templates/scep.plist" >/dev/null ||
    not_ok "templates WiFi and wifi"
printf 'email,name,template\nc@example.com,C,WiFi;wifi\n' > case.csv
expect_status 0 "run with WiFi and wifi" "$PF" run --csv case.csv --out case \
    $(signer_args "$T/pki")
check "two profiles in current/" [ "$(ls case/current | wc -l)" = 2 ]
sed 's|<string>SCEP identity</string>|<string>SCEP identity 2</string>|' \
    "$TOP/templates/scep.plist" > scep2.plist
"$PF" template add wifi scep2.plist >/dev/null || not_ok "wifi version 2"
expect_status 0 "wifi reissued, WiFi unchanged" "$PF" run --csv case.csv \
    --out case $(signer_args "$T/pki")
check "still two profiles in current/" [ "$(ls case/current | wc -l)" = 2 ]
check "each is the newest of its template" sh -c '
	for f in case/current/*; do
		n=$(sqlite3 "$0" "SELECT count(*) FROM profiles p
		    JOIN runs r ON r.id = p.run_id
		    WHERE p.superseded_at IS NULL AND
		    p.sha256 = '"'"'$(sha256sum "$f" | cut -d" " -f1)'"'"'")
		[ "$n" = 1 ] || exit 1
	done' "$T/pf.db"
expect_status 0 "revoke WiFi" "$PF" revoke --user c@example.com --template WiFi
check "wifi's profile stays in current/" [ "$(ls case/current | wc -l)" = 1 ]

# Help and the version on a full disk; inputs that are not files.
expect_status 74 "help to a full disk" sh -c '"$0" help >/dev/full' "$PF"
expect_status 74 "--version to a full disk" sh -c '"$0" --version >/dev/full' "$PF"
expect_status 74 "run --help to a full disk" sh -c '"$0" run --help >/dev/full' "$PF"
expect_status 65 "-h as an option's value is the value, not help" \
    "$PF" revoke --user -h
err_has "so the user is looked up" 'user "-h" not found'
check "--help after a value is help" sh -c \
    '"$0" run --csv x --help | grep -q "^usage: profactory"' "$PF"
for c in "runs --json" "inspect --json" "mail --sendmail" \
    "template add --force" "run --unsigned" "run --dry-run" \
    "regenerate --prune" "run --wait"; do
	# shellcheck disable=SC2086 # the command and its flag
	expect_status 0 "$c --help: help after an option without a value" \
	    "$PF" $c --help
	check "$c --help prints the usage" grep -q "^usage: profactory" \
	    "$T/last.out"
done
expect_status 64 "template remove with an unknown option" "$PF" template \
    remove --bogus
expect_status 64 "template list with an unknown option" "$PF" template \
    list --bogus
mkfifo fifo
expect_status 66 "template add from a FIFO with no writer" timeout 10 \
    "$PF" template add f fifo
expect_status 66 "inspect of a FIFO" timeout 10 "$PF" inspect fifo

# Another application's SQLite database is left alone.
sqlite3 other.db "CREATE TABLE foo (x); INSERT INTO foo VALUES (1)"
chmod 644 other.db
expect_status 78 "init refuses another application's database" \
    "$PF" --db other.db init
err_has "it says so" "not a profactory database"
check "and leaves it as it was" sh -c '[ "$(stat -c %a other.db)" = 644 ] &&
    [ "$(sqlite3 other.db "PRAGMA journal_mode; SELECT count(*) FROM
    sqlite_master")" = "delete
1" ]'

# A table whose name merely starts like SQLite's own ("sqlitestudio_...")
# is another application's too.
sqlite3 studio.db "CREATE TABLE sqlitestudio_history (x)"
expect_status 78 "init refuses a database with sqlitestudio_history" \
    "$PF" --db studio.db init
check "and leaves it with its one table" [ "$(sqlite3 studio.db \
    "SELECT count(*) FROM sqlite_master")" = 1 ]

# The database and its -wal and -shm are the caller's alone: another
# user's that others may use is refused (it may have been put there
# first); one's own restored with a looser mode is made 0600, -wal too.
if [ "$(id -u)" = 0 ]; then
	mkdir planted
	: > planted/pf.db
	chmod 666 planted/pf.db
	chown 65534 planted/pf.db
	expect_status 78 "init on another user's database open to others" \
	    "$PF" --db planted/pf.db init
	err_has "it says whose" "another user's (uid 65534; this is uid 0)"
	check "and leaves it empty" [ ! -s planted/pf.db ]
	"$PF" --db planted2.db init >/dev/null
	: > planted2.db-wal
	chmod 666 planted2.db-wal
	chown 65534 planted2.db-wal
	expect_status 78 "a -wal file another user put beside the database" \
	    "$PF" --db planted2.db runs
	err_has "names the -wal file" "planted2.db-wal: another user's"
	chmod 600 planted2.db-wal
	expect_status 78 "and so with mode 0600 (its owner may open it later)" \
	    "$PF" --db planted2.db runs
else
	echo "ok - # skip another user's database: not root"
fi
"$PF" --db restored.db init >/dev/null
chmod 644 restored.db
expect_status 0 "a database of one's own with mode 0644" "$PF" --db \
    restored.db template add scep "$TOP/templates/scep.plist"
check "is made 0600, its -wal and -shm too" sh -c '[ "$(stat -c %a \
    restored.db restored.db-wal restored.db-shm | sort -u)" = 600 ]'

# A removed template says so, and where its versions are.
"$PF" template add gone "$TOP/templates/scep.plist" >/dev/null
"$PF" template remove gone >/dev/null
expect_status 65 "show of a removed template" "$PF" template show gone
err_has "names its last version" "was removed (its versions stay: template show gone --version 1)"

# inspect refuses a signer without digitalSignature, as run does.
printf '<plist><dict/></plist>' > tiny.xml
openssl cms -sign -binary -nodetach -outform DER -in tiny.xml \
    -signer "$T/pki/signer-nodigsig.pem" -inkey "$T/pki/signer-nodigsig.key" \
    -certfile "$T/pki/chain.pem" -out nds.mobileconfig 2>/dev/null ||
    not_ok "sign with the signer without digitalSignature"
expect_status 1 "inspect: a signer without digitalSignature" "$PF" inspect \
    nds.mobileconfig --ca "$T/pki/root.pem"
err_has "the reason" "key usage does not allow digitalSignature"

expect_status 0 "encrypted key with --key-pass env:" env PFPASS=demo-pass \
    "$PF" run --csv users.csv --out enc --signer-cert "$T/pki/signer.pem" \
    --signer-key "$T/pki/signer-enc.key" --chain "$T/pki/chain.pem" \
    --key-pass env:PFPASS
check "second run reissues and supersedes" \
    [ "$(sqlite3 "$T/pf.db" "SELECT count(*) FROM challenges WHERE revoke_reason = 'superseded'")" -gt 0 ]

# With a terminal on stderr: a progress bar of CSV rows (two profiles a
# row here), redrawn in place within the terminal's width, ended before
# any message; stdout still gets the one summary line.
if command -v script >/dev/null 2>&1; then
	export PROFACTORY_DB="$T/pty.db"
	"$PF" init >/dev/null
	"$PF" template add scep "$TOP/templates/scep.plist" >/dev/null
	"$PF" template add wifi "$TOP/templates/wifi-eaptls.plist" >/dev/null
	python3 -c 'import sys
print("email,name,template")
for i in range(300):
    print("p%d@example.com,P %d,scep;wifi" % (i, i))
print("bad@example.com,Bad,nosuch")' > pty.csv
	for cols in 80 30; do
		script -qc "stty cols $cols; '$PF' run --csv pty.csv --out pty$cols \
		    --jobs 1 $(signer_args "$T/pki") >pty$cols.out" \
		    /dev/null >pty$cols.tty </dev/null
		check "terminal of $cols columns: one summary line on stdout" \
		    [ "$(wc -l < pty$cols.out)" -eq 1 ]
		check "terminal of $cols columns: the bar counts CSV rows to the end" \
		    python3 - "pty$cols.tty" "$cols" <<'EOF'
import re, sys
text = open(sys.argv[1], "rb").read().decode()
cols = int(sys.argv[2])
lines = [re.sub(r"\x1b\[K", "", l) for l in re.split(r"[\r\n]", text)]
bars = [l for l in lines if re.search(r"\d+/\d+", l) and "profactory:" not in l]
counts = [tuple(map(int, re.search(r"(\d+)/(\d+)", l).groups())) for l in bars]
ok = (bars and all(len(l) < cols for l in bars) and
      all(d <= t == 301 for d, t in counts) and counts[-1] == (301, 301) and
      all("ETA -" not in l for l in bars) and
      # the warning about the bad row is on a line of its own
      any(l.startswith("profactory: warning: ") for l in text.split("\n")))
sys.exit(0 if ok else 1)
EOF
	done
	export PROFACTORY_DB="$T/pf.db"
fi

# A database of another user's (scepserver running as another user than
# the one who made it): 78 with the reason, not 73.
if [ "$(id -u)" = 0 ] && setpriv --reuid=65534 --regid=65534 \
    --clear-groups true 2>/dev/null; then
	mkdir -m 755 "$T/other"
	chmod 755 "$T"
	cp "$PF" "$T/other/pf" && chmod 755 "$T/other/pf"
	PROFACTORY_DB="$T/other/pf.db" "$T/other/pf" init >/dev/null
	head -c 300 /dev/urandom >"$T/other/junk.der"
	chmod 644 "$T/other/junk.der"
	expect_status 78 "another user's database for the verifier: 78" \
	    setpriv --reuid=65534 --regid=65534 --clear-groups \
	    env PROFACTORY_DB="$T/other/pf.db" "$T/other/pf" verify-csr \
	    <"$T/other/junk.der"
	err_has "the reason" "another user's (uid 0; this is uid 65534): not used"

	chmod 700 "$T"
else
	echo "ok - # skip a database the verifier may not open: no other user here"
fi
# A signer key or passphrase file others can read gives a warning.
cp "$T/pki/signer-enc.key" open.key
chmod 644 open.key
printf 'demo-pass\n' > open.pass
chmod 644 open.pass
expect_status 0 "a run with a key and a passphrase file others can read" \
    "$PF" run --csv users.csv --out openkey --signer-cert \
    "$T/pki/signer.pem" --signer-key open.key --chain "$T/pki/chain.pem" \
    --key-pass file:open.pass
err_has "warns about the key" "signer key open.key can be read by other users (mode 0644)"
err_has "warns about the passphrase file" "passphrase file open.pass can be read by other users"
chmod 600 open.key open.pass
expect_status 0 "the same, mode 0600" "$PF" run --csv users.csv --out openkey \
    --signer-cert "$T/pki/signer.pem" --signer-key open.key --chain \
    "$T/pki/chain.pem" --key-pass file:open.pass
check "no warning then" [ ! -s "$T/last.err" ]

# The recovery of a killed run whose output root is gone makes nothing
# there again.
"$PF" --db gone.db init >/dev/null
"$PF" --db gone.db template add scep "$TOP/templates/scep.plist" >/dev/null
sqlite3 gone.db "INSERT INTO runs (name, kind, status, pid, started_at,
    out_dir) VALUES ('20200101-000000', 'run', 'running', 0, 1,
    '$T/gone/deeper/out')"
expect_status 0 "a run after a killed one whose output root is gone" \
    "$PF" --db gone.db run --csv users.csv --template scep --out goneout \
    $(signer_args "$T/pki")
check "the gone output root is not made again" [ ! -e "$T/gone" ]
check "the killed run is marked interrupted" [ "$(sqlite3 gone.db \
    "SELECT status FROM runs WHERE name = '20200101-000000'")" = interrupted ]

# runs: a run the database holds as running while nobody holds the run
# lock was killed and shows as interrupted; while a process holds the lock
# (a run, here a stand-in with a POSIX lock on it) it shows as running.
# Only looked at: the database stays as it was.
sqlite3 "$T/pf.db" "INSERT INTO runs (name, kind, status, pid, started_at,
    out_dir) VALUES ('held-run', 'run', 'running', 1, 1, '$T')"
expect_status 0 "runs with a run held as running, no lock held" "$PF" runs
check "it shows as interrupted" \
    grep -Eq '^held-run +run +interrupted ' "$T/last.out"
expect_status 0 "runs --json" "$PF" runs --json
check "runs --json says the same" python3 -c '
import json, sys
st = {r["run"]: r["status"] for r in json.load(open(sys.argv[1]))}
sys.exit(st["held-run"] != "interrupted")
' "$T/last.out"
python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(30)' "$T/pf.db.lock" "$T/locked" &
holder=$!
n=0
while [ ! -e "$T/locked" ] && [ "$n" -lt 500 ]; do sleep 0.01; n=$((n + 1)); done
expect_status 0 "runs while a process holds the run lock" "$PF" runs
check "the run shows as running" \
    grep -Eq '^held-run +run +running ' "$T/last.out"
kill "$holder"
wait "$holder" 2>/dev/null
check "the database is left as it was" [ "$(sqlite3 "$T/pf.db" \
    "SELECT count(*) FROM runs WHERE status = 'running'")" = 1 ]
finish
