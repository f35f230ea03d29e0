# mail: one message per profile of a run, written to OUT/RUN/mail/ and
# parsed with Python's email package (check_mail.py); hostile CSV values
# cannot add header fields; bad rows fail alone; exact exit statuses.
. "$(dirname "$0")/lib.sh"

pki "$T/pki" rsa
"$PF" init >/dev/null
# scep.plist without {{email}}, so that a user's address may be empty.
sed 's/{{email}}/{{user}}/g' "$TOP/templates/scep.plist" > mailt.plist
expect_status 0 "template add" "$PF" template add mailt mailt.plist

# A CR LF inside a quoted field is part of the value.
printf '%s\r\n' 'user,email,name,department' \
    'ana,ana@example.com,Ana Lima,Sales' \
    'chloé,chloe@example.com,"Chloé Dupont, Åsa & Co",Support' \
    'evil,evil@example.com,"Evil' 'Bcc: victim@example.com",X' \
    'inject,"inject@example.com' 'Bcc: victim@example.com",Inject,X' \
    'bad,not-an-address,Bad,X' \
    'eai,jürgen@example.com,Jürgen,X' \
    'noaddr,,Nobody,X' > users.csv
expect_status 0 "run" "$PF" run --csv users.csv --key-column user \
    --template mailt --out out $(signer_args "$T/pki")
run=$(readlink out/latest)

printf '%s\n' 'Dear {{name}},' '' \
    'department {{department}}, user {{user}}, template {{template}}, run {{run}}' \
    'From here on a line starts with From' '.' 'the end' > body.txt
expect_status 1 "mail with failed rows exits 1" "$PF" mail --run "$run" \
    --from 'IT Desk <it@example.com>' --subject 'Profil für {{name}}' \
    --body body.txt
check "summary line" grep -qx "mail $run: 3 written, 0 sent, 0 skipped, 4 failed; $T/out/$run/mail/" "$T/last.out"
err_has "a CR LF in the address fails its row, named with the user" \
    'user "inject", template "mailt": address "inject@example.com\r\nBcc: victim@example.com" in column "email" is not a plausible address; not mailed'
err_has "an implausible address fails its row" \
    'user "bad", template "mailt": address "not-an-address"'
err_has "no address fails its row" \
    'user "noaddr", template "mailt": no address in column "email"'
err_has "a non-ASCII address fails its row, saying why" \
    'user "eai", template "mailt": address "jürgen@example.com" in column "email" is not a plausible address (non-ASCII addresses need SMTPUTF8'
python3 "$TOP/tests/e2e/check_mail.py" "out/$run/mail" "out/$run" "$T/pf.db" \
    "$run" it@example.com --from-name "IT Desk" --count 3 --mode \
    --subject 'Profil für {name}' --body-has 'Dear {name},' \
    --body-has 'department {department}, user {user}, template {template}, run {run}' \
    --body-has "$(printf 'starts with From\n.\nthe end')" \
    || FAILED=1
check "names: the profile's, .eml" [ -f "out/$run/mail/ana.mailt.eml" ]
check "no temporary files left" \
    [ -z "$(find "out/$run/mail" -name '.tmp-*')" ]
check "a non-ASCII file name is an RFC 2231 parameter with an ASCII fallback" \
    grep -q "filename\*=UTF-8''chlo%C3%A9.mailt.mobileconfig;" \
    "out/$run/mail/chloé.mailt.eml"
check "...and the fallback" grep -q 'filename="chlo_.mailt.mobileconfig"' \
    "out/$run/mail/chloé.mailt.eml"

# Again: the files are replaced, with new Message-IDs.
id1=$(grep -i '^Message-ID:' "out/$run/mail/ana.mailt.eml")
expect_status 1 "mail again" "$PF" mail --run "$run" --from it@example.com
id2=$(grep -i '^Message-ID:' "out/$run/mail/ana.mailt.eml")
check "a second mail replaces the file" [ -n "$id1" ] && [ "$id1" != "$id2" ]
python3 "$TOP/tests/e2e/check_mail.py" "out/$run/mail" "out/$run" "$T/pf.db" \
    "$run" it@example.com --count 3 --body-has 'configuration profile "{template}" ({user})' \
    || FAILED=1

# The run by its numeric id, and as "latest".
id=$(sqlite3 "$T/pf.db" "SELECT id FROM runs WHERE name = '$run'")
expect_status 1 "mail --run NUMERIC-ID" "$PF" mail --run "$id" --from it@example.com
expect_status 1 "mail --run latest" "$PF" mail --run latest --from it@example.com
check "...the same run" grep -q "^mail $run:" "$T/last.out"

# Placeholders: unknown ones stop everything, naming file and line.
printf 'Hello {{name}}\n{{nosuch}}\n' > unknown.txt
expect_status 65 "unknown body placeholder" "$PF" mail --run "$run" \
    --from it@example.com --body unknown.txt
err_has "...names the file, line and placeholder" 'unknown.txt:2: unknown placeholder "{{nosuch}}"'
printf 'Your code: {{challenge}}\n' > secret.txt
expect_status 65 "{{challenge}} is not for mail" "$PF" mail --run "$run" \
    --from it@example.com --body secret.txt
err_has "...named" 'secret.txt:1: unknown placeholder "{{challenge}}"'
printf 'Hello {{name\n' > open.txt
expect_status 65 "unclosed placeholder" "$PF" mail --run "$run" \
    --from it@example.com --body open.txt
printf 'Hello \377\n' > latin1.txt
expect_status 65 "body that is not UTF-8" "$PF" mail --run "$run" \
    --from it@example.com --body latin1.txt
expect_status 64 "subject that is not UTF-8" "$PF" mail --run "$run" \
    --from it@example.com --subject "$(printf 'caf\351')"
expect_status 64 "unknown subject placeholder" "$PF" mail --run "$run" \
    --from it@example.com --subject 'For {{nosuch}}'
err_has "...named" '--subject: unknown placeholder "{{nosuch}}"'
expect_status 64 "--to-column no user has" "$PF" mail --run "$run" \
    --from it@example.com --to-column mail
expect_status 66 "missing --body file" "$PF" mail --run "$run" \
    --from it@example.com --body nope.txt

# Usage, missing run, missing directory.
expect_status 64 "--from required" "$PF" mail --run "$run"
expect_status 64 "--run required" "$PF" mail --from it@example.com
expect_status 64 "implausible --from" "$PF" mail --run "$run" --from 'IT <it@>'
expect_status 64 "--from with a CR LF" "$PF" mail --run "$run" \
    --from "$(printf 'it@example.com\r\nBcc: x@example.com')"
expect_status 65 "no such run" "$PF" mail --run 20990101-000000 --from it@example.com
err_has "...named" 'run "20990101-000000" not found'
mv "out/$run" "out/moved"
expect_status 66 "run directory gone" "$PF" mail --run "$run" --from it@example.com
# a symbolic link put where the run directory was: not followed
mkdir outside
cp -a "out/moved/." outside/
rm -rf outside/mail && mkdir outside/mail && : > outside/mail/.tmp-keep
ln -s ../outside "out/$run"
expect_status 66 "a symbolic link as the run directory" "$PF" mail --run "$run" \
    --from it@example.com
err_has "...named" "a symbolic link"
check "nothing written or removed where it leads" \
    [ "$(ls -A outside/mail)" = .tmp-keep ]
rm "out/$run"
mv "out/moved" "out/$run"
check "mail --help" sh -c "'$PF' mail --help | grep -q -- '--sendmail'"

# hold_lock FILE: a process of ours holds an flock(2) on FILE (pid in
# $holder) until release_lock.
hold_lock() {
	rm -f "$T/locked"
	python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(60)' "$1" "$T/locked" &
	holder=$!
	_i=0
	while [ ! -e "$T/locked" ] && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
}
release_lock() {
	kill "$holder"
	wait "$holder" 2>/dev/null
}
hold_lock "$T/pf.db.mail.lock"
expect_status 75 "another mail command holds the lock" "$PF" mail \
    --run "$run" --from it@example.com
err_has "...said so" "another mail command is running"
release_lock
sqlite3 "$T/pf.db" "UPDATE runs SET status = 'running' WHERE name = '$run'"
hold_lock "$T/pf.db.lock"
expect_status 75 "a run still going is not mailed" "$PF" mail --run "$run" \
    --from it@example.com
err_has "...said so" "run $run has not finished"
release_lock
expect_status 1 "a run that crashed is mailed (what it recorded is good)" \
    "$PF" mail --run "$run" --from it@example.com
sqlite3 "$T/pf.db" "UPDATE runs SET status = 'done' WHERE name = '$run'"

# A profile changed on disk fails its row; the others go on.
cp "out/$run/ana.mailt.mobileconfig" ana.keep
printf 'x' >> "out/$run/ana.mailt.mobileconfig"
expect_status 1 "changed profile" "$PF" mail --run "$run" --from it@example.com
err_has "...fails its row" 'user "ana", template "mailt": '
err_has "...saying why" 'changed since the run wrote it'
check "...the others are written" grep -q ' 2 written, 0 sent, 0 skipped, 5 failed' "$T/last.out"
cp ana.keep "out/$run/ana.mailt.mobileconfig"

# A later run supersedes ana's profile: the old one is not mailed.
sed 's/Ana Lima/Ana Lima-Souza/' users.csv > users2.csv
expect_status 0 "second run reissues ana" "$PF" run --csv users2.csv \
    --key-column user --template mailt --out out $(signer_args "$T/pki")
run2=$(readlink out/latest)
expect_status 1 "mail the first run again" "$PF" mail --run "$run" --from it@example.com
err_has "a superseded profile is skipped with a warning" \
    'user "ana", template "mailt": profile superseded by a later run; not mailed'
check "...counted as skipped" grep -q ' 2 written, 0 sent, 1 skipped, 4 failed' "$T/last.out"
check "...and its message from before is gone" \
    [ ! -e "out/$run/mail/ana.mailt.eml" ]
expect_status 0 "mail the second run" "$PF" mail --run "$run2" --from it@example.com
check "...only what it wrote" grep -qx "mail $run2: 1 written, 0 sent, 0 skipped, 0 failed; $T/out/$run2/mail/" "$T/last.out"
python3 "$TOP/tests/e2e/check_mail.py" "out/$run2/mail" "out/$run2" "$T/pf.db" \
    "$run2" it@example.com --count 1 --mode || FAILED=1
finish
