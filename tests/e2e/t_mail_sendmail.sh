# mail --sendmail: a run delivered through msmtp (as the sendmail program)
# to an SMTP sink on 127.0.0.1 that this test starts and stops by pid; what
# arrived is parsed with Python's email package; a second mail sends
# nothing more; a refused recipient fails alone and is not recorded.
. "$(dirname "$0")/lib.sh"

msmtp=$(command -v msmtp)
if [ -z "$msmtp" ]; then
	not_ok "msmtp is installed (scripts/install-deps)"
	finish
fi

mkdir "$T/sink"
python3 "$TOP/tests/e2e/smtp_sink.py" "$T/sink" "$T/port" \
    rej@example.com 2>"$T/sink.log" &
sink=$!
stop_sink() {
	kill "$sink" 2>/dev/null
	wait "$sink" 2>/dev/null
}
trap stop_sink EXIT
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "SMTP sink listens on 127.0.0.1" [ -s "$T/port" ]
port=$(cat "$T/port")

# msmtp reads ~/.msmtprc: HOME is the test directory.
cat > "$T/.msmtprc" <<EOF
defaults
auth off
tls off
logfile $T/msmtp.log
account default
host 127.0.0.1
port $port
from bounces@example.com
EOF
chmod 600 "$T/.msmtprc"
HOME=$T
export HOME

pki "$T/pki" ec
"$PF" init >/dev/null
sed 's/{{email}}/{{user}}/g' "$TOP/templates/scep.plist" > mailt.plist
expect_status 0 "template add" "$PF" template add mailt mailt.plist
printf '%s\r\n' 'user,email,name' \
    'ana,ana@example.com,Ana Lima' \
    'bo,bo@example.com,"Bo ""The Hammer"" Åström"' \
    'chloé,chloe@example.com,Chloé Dupont' \
    'evil,evil@example.com,"Evil' 'Bcc: victim@example.com"' \
    'rej,rej@example.com,Refused' > users.csv
expect_status 0 "run" "$PF" run --csv users.csv --key-column user \
    --template mailt --out out $(signer_args "$T/pki")
run=$(readlink out/latest)

PROFACTORY_SENDMAIL=$msmtp
export PROFACTORY_SENDMAIL
expect_status 1 "mail --sendmail: one recipient refused" "$PF" mail \
    --run "$run" --from 'Støtte <it@example.com>' --subject '{{name}}: profil' \
    --sendmail
check "summary: 4 sent, 1 failed" grep -qx \
    "mail $run: 0 written, 4 sent, 0 skipped, 1 failed" "$T/last.out"
err_has "the refused one is reported with its user" \
    "user \"rej\", template \"mailt\": $msmtp exited with status"
check "no files written with --sendmail" [ ! -e "out/$run/mail" ]
check "4 recorded as sent" [ "$(sqlite3 "$T/pf.db" \
    'SELECT count(*) FROM mail_sent')" = 4 ]
check "the refused one is not recorded" [ "$(sqlite3 "$T/pf.db" \
    "SELECT count(*) FROM mail_sent WHERE to_addr = 'rej@example.com'")" = 0 ]
python3 "$TOP/tests/e2e/check_mail.py" "$T/sink" "out/$run" "$T/pf.db" \
    "$run" it@example.com --from-name "Støtte" --count 4 --sink \
    --subject '{name}: profil' --body-has 'configuration profile "{template}" ({user})' \
    || FAILED=1
check "nothing went to the address in a CSV value" \
    sh -c "! grep -l victim '$T'/sink/*.json"

expect_status 1 "mail --sendmail again" "$PF" mail --run "$run" \
    --from it@example.com --sendmail
check "...sends nothing more: 4 skipped, the refused one tried again" \
    grep -qx "mail $run: 0 written, 0 sent, 4 skipped, 1 failed" "$T/last.out"
check "...nothing more arrived" [ "$(ls "$T"/sink/*.eml | wc -l)" = 4 ]
check "...nothing more recorded" [ "$(sqlite3 "$T/pf.db" \
    'SELECT count(*) FROM mail_sent')" = 4 ]

# A sendmail program that is not there: a configuration error.
expect_status 78 "missing sendmail program" env \
    PROFACTORY_SENDMAIL="$T/no-sendmail" "$PF" mail --run "$run" \
    --from it@example.com --sendmail
err_has "...named" "$T/no-sendmail"
# The path is run as a program, never through a shell.
expect_status 78 "a command line is not a program" env \
    PROFACTORY_SENDMAIL="$msmtp -t" "$PF" mail --run "$run" \
    --from it@example.com --sendmail

stop_sink
trap - EXIT
check "SMTP sink stopped" sh -c "! kill -0 $sink 2>/dev/null"
finish
