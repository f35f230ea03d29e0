# --layout by-user: one folder per user in the run directory and in
# OUT/current/, safe names for awkward keys, collisions resolved, nothing
# outside OUT (a planted symbolic link is not followed); index.html parsed
# and its links followed; regenerations switching layouts; revoke and
# --prune leave no empty folder; --dry-run writes nothing; recovery of a
# crashed run looks into user folders; and runs killed with SIGKILL in
# by-user (t_crash.sh with PF_CRASH_LAYOUT; PF_LAYOUT_CRASH=0 skips them,
# PF_LAYOUT_KILLS sets how many, 3 by default).
. "$(dirname "$0")/lib.sh"

pki "$T/pki" ec
S="$(signer_args "$T/pki") --jobs 2"
K="--key-column id"
CHECK="$TOP/tests/e2e/check_layout.py"
"$PF" init >/dev/null
"$PF" template add scep "$TOP/templates/scep.plist" >/dev/null
"$PF" template add wifi "$TOP/templates/wifi-eaptls.plist" >/dev/null

q() { sqlite3 "$T/pf.db" "$1"; }
latest() { readlink out/latest; }
# ndirs DIR GLOB: how many folders directly in DIR match GLOB.
ndirs() { find "$1" -mindepth 1 -maxdepth 1 -type d -name "$2" | wc -l; }
# summary_has TEXT: the last run's summary line holds TEXT.
summary_has() { tail -n 1 "$T/last.out" | grep -q -- "$1"; }
# layout_ok LABEL LAYOUT: check_layout.py on the newest run.
layout_ok() {
	python3 "$CHECK" out "$(latest)" "$T/pki/root.pem" "$2" "$1" || FAILED=1
}

# Awkward keys (the key column is "id"): accents and a space; '#', '%',
# '?', '&'; markup; quotes; '..' and a way out; keys differing only in
# case; a key spelled as another key's digested name (it cannot take that
# name: its '~' is not kept, so it gets a digest of its own); non-ASCII only; a leading dash; a device
# name; a run directory's own file name; a control character, a
# duplicate and an unknown template (failed rows).
python3 - <<'EOF'
import csv, hashlib
collide = "ana@example.com~" + hashlib.sha256(b"Ana@Example.com").hexdigest()[:8]
rows = [
    ("ana@example.com", "Ana", "scep;wifi"),
    ("Ana@Example.com", "Ana Upper", "scep"),
    (collide, "Collider", "scep"),
    ("José María@example.com", "José María", "scep;wifi"),
    ("a#b%c?d&e@example.com", "Hash Percent", "scep"),
    ("<script>alert(1)</script>", "Markup <b>", "scep"),
    ("O'Neil \"Q\" Smith", "Quotes", "wifi"),
    ("..", "Dot Dot", "scep"),
    ("../../escape", "Escape", "scep"),
    ("Дмитрий", "Dmitri", "scep"),
    ("-rf", "Dash", "scep"),
    ("CON", "Device", "scep"),
    ("manifest.csv", "Run File", "scep"),
    ("ctl\x01x", "Control", "scep"),
    ("ana@example.com", "Duplicate", "scep"),
    ("nobody@example.com", "Nobody", "nosuch"),
]
with open("users.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["id", "email", "name", "template"])
    for key, name, tmpl in rows:
        w.writerow([key, "u%d@example.com" % len(key), name, tmpl])
with open("collide", "w") as f:
    f.write(collide)
with open("collide_own", "w") as f:
    f.write(collide.replace("~", "_") + "~" +
            hashlib.sha256(collide.encode()).hexdigest()[:8])
EOF
COLLIDE=$(cat collide)
COLLIDE_OWN=$(cat collide_own)

# Usage and --dry-run first: nothing may be written.
expect_status 64 "--layout with an unknown value is a usage error" \
    "$PF" run --csv users.csv $K --out out --layout nested $S
err_has "the usage error names the option" '--layout "nested": flat or by-user'
expect_status 1 "--dry-run --layout by-user (failed rows: status 1)" \
    "$PF" run --csv users.csv $K --out out --layout by-user --dry-run $S
check "--dry-run --layout by-user writes nothing" [ ! -e out ]
check "--dry-run records no run" [ "$(q 'SELECT count(*) FROM runs')" = 0 ]

# A symbolic link planted where a user folder of current/ will go.
mkdir -p out/current evil
chmod 700 out out/current
ln -s "$T/evil" "out/current/ana@example.com"
expect_status 1 "run --layout by-user over awkward keys (failed rows: status 1)" \
    "$PF" run --csv users.csv $K --out out --layout by-user $S
R1=$(latest)
layout_ok "by-user run" by-user
check "the planted link was not followed" [ -z "$(ls -A evil)" ]
planted_ok() {
	[ -d "out/current/ana@example.com" ] &&
	    [ ! -L "out/current/ana@example.com" ]
}
check "the planted link became a folder" planted_ok
case_ok() {
	[ -f "out/$R1/ana@example.com/scep.mobileconfig" ] &&
	    [ -f "out/$R1/ana@example.com/wifi.mobileconfig" ] &&
	    [ "$(find "out/$R1" -path "out/$R1/ana@example.com~*/scep.mobileconfig" |
	    wc -l)" -eq 1 ]
}
check "keys differing only in case have their own folders" case_ok
collide_ok() {
	[ -f "out/$(latest)/$COLLIDE/scep.mobileconfig" ] &&
	    [ ! -e "out/$(latest)/$COLLIDE/scep~2.mobileconfig" ] &&
	    [ -f "out/$(latest)/$COLLIDE_OWN/scep.mobileconfig" ] &&
	    [ -f "out/current/$COLLIDE/scep.mobileconfig" ] &&
	    [ -f "out/current/$COLLIDE_OWN/scep.mobileconfig" ] &&
	    [ "$(grep -c "^[0-9]*,$COLLIDE,scep,[0-9],[a-z]*issued,$COLLIDE_OWN/scep.mobileconfig," \
	    "out/$(latest)/manifest.csv")" -eq 1 ]
}
check "a key spelled as another key's digested name gets a folder of its own" collide_ok
check "an accented key keeps its letters, lowercased ASCII and a digest" \
    [ "$(ndirs "out/$R1" 'josé_maría@example.com~[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]')" -eq 1 ]
dots_ok() {
	[ "$(ndirs "out/$R1" '_._~*')" -eq 1 ] &&
	    [ "$(ndirs "out/$R1" '_.._.._escape~*')" -eq 1 ] &&
	    [ ! -e "$T/escape" ] && [ ! -e out/escape ]
}
check "'..' and a way out become plain folders" dots_ok
names_ok() {
	[ ! -e "out/$R1/con" ] && [ ! -e "out/$R1/CON" ] &&
	    [ -f "out/$R1/manifest.csv" ] && [ "$(ndirs "out/$R1" '_con~*')" -eq 1 ] &&
	    [ "$(ndirs "out/$R1" 'manifest.csv~*')" -eq 1 ] &&
	    [ "$(ndirs "out/$R1" '_-rf~*')" -eq 1 ] && [ -d "out/$R1/Дмитрий" ]
}
check "a device name, a run file name, a dash are no folder names" names_ok
tree_ok() {
	[ "$(find "out/$R1" -mindepth 1 -type d -perm 0700 | wc -l)" -eq 13 ] &&
	    [ "$(find "out/$R1" -mindepth 2 -maxdepth 2 -type f \
	    -name '*.mobileconfig' -perm 0600 | wc -l)" -eq 15 ] &&
	    [ "$(find "out/$R1" -mindepth 1 -maxdepth 1 -type f | wc -l)" -eq 3 ] &&
	    [ -z "$(find "out/$R1" out/current -mindepth 1 \( -type d ! -perm 0700 \) \
	    -o \( -type f ! -perm 0600 \) -o -type l)" ]
}
check "find: 13 user folders (0700), 15 profiles in them (0600), 3 files at the top" tree_ok
check "current/ mirrors the run directory, folder by folder" \
    [ "$(cd "out/$R1" && find . -name '*.mobileconfig' | sort)" = \
      "$(cd out/current && find . -name '*.mobileconfig' | sort)" ]
check "stat: current/ holds 13 folders of mode 0700 and 15 profiles of mode 0600" \
    [ "$(find out/current -mindepth 1 -exec stat -c '%F %a' {} + | sort |
    uniq -c | awk '{ printf "%s %s %s;", $1, $NF, $2 }')" = \
    "13 700 directory;15 600 regular;" ]
check "the database records the relative paths" \
    [ "$(q "SELECT count(*) FROM profiles WHERE file LIKE '%/%' AND file NOT LIKE '%/%/%'")" -eq 15 ]
check "the failed rows are in index.html" \
    [ "$(grep -c '<td class="status">failed</td>' "out/$R1/index.html")" -eq 3 ]
check "the control character is shown as U+FFFD" \
    grep -q 'ctl�x' "out/$R1/index.html"

# mail of a by-user run: messages in the same folders, the profile's
# bytes attached under its file name.
expect_status 0 "mail a by-user run" "$PF" mail --run "$R1" --from it@example.com
mail_ok() {
	python3 - "out/$R1" <<'EOF'
import email, email.policy, json, os, sys
run = sys.argv[1]
rows = [r for r in json.load(open(os.path.join(run, "manifest.json")))["rows"]
        if r["status"] == "issued"]
found = sorted(os.path.relpath(os.path.join(d, n), os.path.join(run, "mail"))
               for d, _, ns in os.walk(os.path.join(run, "mail")) for n in ns)
want = sorted(r["file"][:-len(".mobileconfig")] + ".eml" for r in rows)
if found != want:
    sys.exit("messages %s, want %s" % (found[:3], want[:3]))
for r in rows:
    name = os.path.join(run, "mail", r["file"][:-len(".mobileconfig")] + ".eml")
    msg = email.message_from_binary_file(open(name, "rb"), policy=email.policy.default)
    att = [p for p in msg.iter_attachments()]
    if len(att) != 1 or att[0].get_filename() != r["file"].split("/")[1] or \
            att[0].get_content() != open(os.path.join(run, r["file"]), "rb").read():
        sys.exit("%s: attachment is not %s" % (name, r["file"]))
EOF
}
check "one message per profile in its user folder, the profile attached" mail_ok
check "mail/ folders are 0700, messages 0600" \
    [ -z "$(find "out/$R1/mail" \( -type d ! -perm 0700 \) -o \( -type f ! -perm 0600 \))" ]

# Nothing changed: every row unchanged; index.html links into run 1.
expect_status 1 "rerun: all unchanged" \
    "$PF" run --csv users.csv $K --out out --layout by-user $S
check "rerun: 15 unchanged" summary_has ' 0 issued, 0 reissued, 15 unchanged'
check "rerun wrote no profile" \
    [ -z "$(find "out/$(latest)" -name '*.mobileconfig')" ]
layout_ok "unchanged rerun" by-user
check "unchanged rows link to run 1's user folders" \
    grep -q "href=\"../$R1/ana%40example.com/scep.mobileconfig\"" "out/$(latest)/index.html"

# Switch to flat with one user's row changed: only that user is reissued,
# flat; the others keep their recorded folder paths; its emptied folder
# leaves current/.
sed 's/,José María,/,José Maria Changed,/' users.csv > users2.csv
jose_dir=$(cd "out/$R1" && ls -d josé*)
expect_status 1 "regenerate --layout flat with one row changed" \
    "$PF" regenerate --csv users2.csv $K --out out --layout flat $S
check "two reissued, the rest unchanged" \
    summary_has ' 0 issued, 2 reissued, 13 unchanged'
layout_ok "switch to flat" flat
flat_ok() {
	[ -f "out/$(latest)/$jose_dir.scep.mobileconfig" ] &&
	    [ -f "out/current/$jose_dir.wifi.mobileconfig" ]
}
check "the reissued user's profiles are flat files now" flat_ok
check "its folder left current/" [ ! -e "out/current/$jose_dir" ]
check "unchanged users keep their folders in current/" \
    [ -f "out/current/ana@example.com/wifi.mobileconfig" ]

# Back to by-user with a new scep version: every scep profile reissued
# into a folder; wifi ones stay where they are.
sed 's|<string>Example Inc.</string>|<string>Example Corp.</string>|' \
    "$TOP/templates/scep.plist" > scep2.plist
"$PF" template add scep scep2.plist >/dev/null
expect_status 1 "regenerate --layout by-user after a template update" \
    "$PF" regenerate --csv users2.csv $K --out out --layout by-user $S
check "every scep profile reissued" \
    summary_has ' 0 issued, 12 reissued, 3 unchanged'
layout_ok "switch back to by-user" by-user
check "no flat scep profile left in current/" \
    [ -z "$(find out/current -maxdepth 1 -name '*.scep.mobileconfig')" ]
check "the flat wifi profile stays, unchanged" \
    [ -f "out/current/$jose_dir.wifi.mobileconfig" ]
check "the key spelled as a digested name keeps its own folder" collide_ok

# revoke and --prune: the user's links go, and an emptied folder with them.
expect_status 0 "revoke a by-user user" "$PF" revoke --user '<script>alert(1)</script>'
check "revoke removes the user's folder from current/" \
    [ "$(ndirs out/current '_script_alert_1___script_-*')" -eq 0 ]
grep -v '^Дмитрий,' users2.csv > users3.csv
expect_status 1 "regenerate --prune" \
    "$PF" regenerate --csv users3.csv $K --out out --layout by-user --prune $S
check "one revoked by revoke, one by --prune" summary_has ' 2 revoked,'
layout_ok "after revoke and prune" by-user
current_run() {
	q "SELECT r.name FROM profiles p JOIN runs r ON r.id = p.run_id JOIN users u ON u.id = p.user_id WHERE u.key = '$1' AND p.superseded_at IS NULL"
}
pruned_ok() {
	[ ! -e "out/current/Дмитрий" ] &&
	    [ -f "out/$(current_run 'Дмитрий')/Дмитрий/scep.mobileconfig" ]
}
check "the pruned user's folder left current/; its profile stays in its run" pruned_ok
revoked_row() { grep '_script_alert' "out/$(latest)/index.html"; }
revoked_ok() {
	[ "$(revoked_row | wc -l)" -eq 1 ] &&
	    revoked_row | grep -q '<td class="status">revoked</td>' &&
	    ! revoked_row | grep -q 'href='
}
check "the revoked user's row names its file without a link" revoked_ok

# A run that crashed (as the database sees it) left an unrecorded profile
# in a user folder, a stray folder and a symbolic link in place of a
# folder: the next run's recovery removes them without following the link.
sed 's/^\(ana@example.com,[^,]*\),Ana,/\1,Ana Changed,/' users3.csv > users4.csv
expect_status 1 "a run to crash" "$PF" run --csv users4.csv $K --out out --layout by-user $S
R5=$(latest)
check "it reissued ana's two profiles" summary_has ' 2 reissued,'
q "UPDATE runs SET status = 'running', finished_at = NULL WHERE name = '$R5'"
mkdir -p "out/$R5/stray"
: > "out/$R5/stray/x.mobileconfig"
: > "out/$R5/ana@example.com/leftover.mobileconfig"
: > evil/keep.mobileconfig
ln -s "$T/evil" "out/$R5/zz-link"
expect_status 1 "the next run recovers the crashed one" \
    "$PF" run --csv users4.csv $K --out out --layout by-user $S
recovered_ok() {
	[ ! -e "out/$R5/ana@example.com/leftover.mobileconfig" ] &&
	    [ ! -e "out/$R5/stray" ] && [ ! -e "out/$R5/zz-link" ]
}
check "unrecorded files in user folders are removed, emptied folders too" recovered_ok
check "recorded ones stay" [ -f "out/$R5/ana@example.com/scep.mobileconfig" ]
check "recovery does not follow a symbolic link" [ -f evil/keep.mobileconfig ]
check "the crashed run is marked interrupted" \
    [ "$(q "SELECT status FROM runs WHERE name = '$R5'")" = interrupted ]
layout_ok "after recovery" by-user

# Flat layout, across runs: a key spelled as another key's digested name
# (in the old '-' form and in the '~' form) never takes its name, so
# reissuing it alone does not replace the other user's OUT/current/ link.
mkdir forge && cd forge || exit 1
python3 - <<'EOF'
import hashlib
h = hashlib.sha256(b"A@x.com").hexdigest()[:8]
with open("u1.csv", "w") as f:
    f.write("id,email,name\nA@x.com,a@x.com,A\na@x.com-%s,b@x.com,B\na@x.com~%s,c@x.com,C\n" % (h, h))
with open("u2.csv", "w") as f:
    f.write("id,email,name\nA@x.com,a@x.com,A\na@x.com-%s,b@x.com,B2\na@x.com~%s,c@x.com,C2\n" % (h, h))
EOF
cd "$T" || exit 1
expect_status 0 "flat: keys spelled as another key's digested name" \
    "$PF" run --csv forge/u1.csv $K --template scep --out forge/out $S
expect_status 0 "flat: only those two reissued" \
    "$PF" run --csv forge/u2.csv $K --template scep --out forge/out $S
check "flat: 1 unchanged, 2 reissued" summary_has ' 0 issued, 2 reissued, 1 unchanged'
forge_ok() {
	[ "$(find forge/out/current -type f | wc -l)" -eq 3 ] &&
	    [ "$(q "SELECT count(*) FROM profiles p JOIN challenges c ON
	    c.profile_id = p.id WHERE c.revoked_at IS NULL AND p.run_id IN
	    (SELECT id FROM runs WHERE out_dir LIKE '%/forge/out')")" -eq 3 ] &&
	    q "SELECT p.file || ' ' || p.sha256 FROM profiles p JOIN challenges
	    c ON c.profile_id = p.id WHERE c.revoked_at IS NULL AND p.run_id IN
	    (SELECT id FROM runs WHERE out_dir LIKE '%/forge/out')" |
	    while read -r f sum; do
		[ "$(sha256sum < "forge/out/current/$f" | cut -c1-64)" = "$sum" ] ||
		    exit 1
	    done
}
check "flat: OUT/current/ holds each user's own newest profile" forge_ok

# SIGKILL at random moments with --layout by-user: every crash invariant.
if [ "${PF_LAYOUT_CRASH:-1}" = 1 ]; then
	PF_CRASH_LAYOUT=by-user PF_CRASH_KILLS=${PF_LAYOUT_KILLS:-3} \
	    PF_CRASH_USERS=${PF_LAYOUT_CRASH_USERS:-600} \
	    sh "$TOP/tests/e2e/t_crash.sh" >crash.log 2>&1
	crc=$?
	sed -n -e 's/^ok - /ok - by-user crash: /p' \
	    -e 's/^not ok - /not ok - by-user crash: /p' \
	    -e 's/^# /# by-user crash: /p' crash.log
	check "t_crash.sh with PF_CRASH_LAYOUT=by-user exits 0" [ "$crc" -eq 0 ]
fi
finish
