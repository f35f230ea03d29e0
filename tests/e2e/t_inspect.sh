# inspect: profiles of a real run checked against the root and compared
# with openssl and plistlib; a changed byte, a broken signature, a missing
# intermediate, a foreign root, an expired signer, a dangling reference,
# unsigned, hostile and missing files; exact exit statuses; the challenge
# never in the output.
. "$(dirname "$0")/lib.sh"

pki "$T/pki" rsa
expect_status 0 "init" "$PF" init
for t in scep wifi-eaptls vpn-ikev2; do
	expect_status 0 "template add $t" "$PF" template add "${t%%-*}" \
	    "$TOP/templates/$t.plist"
done
cp "$TOP/scripts/sample-users.csv" users.csv
expect_status 0 "run with the chain" "$PF" run --csv users.csv --out out \
    $(signer_args "$T/pki")
run=out/$(readlink out/latest)

python3 "$TOP/tests/e2e/check_inspect.py" "$PF" "$run" "$T/pki/root.pem" \
    "$T/pki/signer.pem" || FAILED=1

wifi=$(ls "$run"/*.wifi.mobileconfig | head -n 1)
scep=$(ls "$run"/*.scep.mobileconfig | head -n 1)
openssl cms -verify -noverify -inform DER -in "$wifi" -out wifi.plist \
    2>/dev/null
# the challenge, as a device would read it
challenge=$(python3 -c 'import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
print([c["PayloadContent"]["Challenge"] for c in p["PayloadContent"]
       if c["PayloadType"] == "com.apple.security.scep"][0])' wifi.plist)
check "the profile carries a challenge" [ ${#challenge} -ge 22 ]
check "the profile file holds the challenge" grep -qF -- "$challenge" "$wifi"

# no_challenge NAME: the last stdout and stderr do not hold it
no_challenge() {
	if grep -qF -- "$challenge" "$T/last.out" "$T/last.err"; then
		not_ok "$1"
	else
		ok "$1"
	fi
}
# out_has NAME TEXT: the last stdout contains TEXT
out_has() {
	if grep -qF -- "$2" "$T/last.out"; then
		ok "$1"
	else
		not_ok "$1 (stdout lacks \"$2\")"
		sed 's/^/#   stdout: /' "$T/last.out" | tail -n 5
	fi
}
# json_is NAME EXPR: a Python expression over the last stdout's JSON (j)
json_is() {
	if python3 -c 'import json, sys
j = json.load(open(sys.argv[1], encoding="utf-8"))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/last.out" "$2"; then
		ok "$1"
	else
		not_ok "$1 ($2)"
	fi
}

expect_status 0 "a good profile with --ca root" "$PF" inspect "$wifi" \
    --ca "$T/pki/root.pem"
out_has "verdict line says verified" "verdict:            VERIFIED: signature valid, chain reaches a root in $T/pki/root.pem"
out_has "challenge shown masked" "  Challenge:        (set, ${#challenge} characters, masked)"
no_challenge "no challenge in the text report"
expect_status 0 "--json with --ca root" "$PF" inspect --json --ca \
    "$T/pki/root.pem" "$wifi"
no_challenge "no challenge in the JSON report"
json_is "JSON verdict verified" 'j["verdict"] == "verified" and j["verified"]'

expect_status 0 "without --ca: the signature alone" "$PF" inspect "$wifi"
out_has "chain not checked, said so" "chain:            not checked (no --ca)"
out_has "verdict says the chain was not checked" "verdict:            SIGNATURE VALID, CHAIN NOT CHECKED (no --ca)"
expect_status 0 "--json without --ca" "$PF" inspect "$wifi" --json
json_is "JSON verdict signature-only, not verified" \
    'j["verdict"] == "signature-only" and not j["verified"] and j["signers"][0]["chain"]["status"] == "not checked"'

# One byte of the embedded plist changed; the plist stays well formed.
python3 - "$wifi" wifi.plist tampered.mobileconfig tampered.plist <<'EOF'
import plistlib, sys
der = open(sys.argv[1], "rb").read()
xml = open(sys.argv[2], "rb").read()
old = b"<string>ExampleCorp Wi-Fi</string>"
new = b"<string>ExampleCorp Wi-Fj</string>"
assert der.count(old) == 1 and xml.count(old) == 1
open(sys.argv[3], "wb").write(der.replace(old, new))
open(sys.argv[4], "wb").write(xml.replace(old, new))
plistlib.loads(xml.replace(old, new))
EOF
check "tampered file differs in one byte" [ "$(cmp -l "$wifi" tampered.mobileconfig | wc -l)" = 1 ]
check "openssl refuses the tampered file too" sh -c "! openssl cms -verify \
    -inform DER -in tampered.mobileconfig -CAfile '$T/pki/root.pem' \
    -purpose any -out /dev/null 2>/dev/null"
expect_status 1 "tampered profile fails" "$PF" inspect tampered.mobileconfig \
    --ca "$T/pki/root.pem"
err_has "the reason is on stderr" "tampered.mobileconfig: not verified: the content digest does not match the signed one"
out_has "the report says not verified" "verdict:            NOT VERIFIED: the content digest does not match"
out_has "the report shows the digest mismatch" "content digest:   DOES NOT MATCH"
no_challenge "no challenge when the check fails"
expect_status 1 "tampered profile fails without --ca too" "$PF" inspect \
    tampered.mobileconfig
expect_status 1 "tampered profile, --json" "$PF" inspect tampered.mobileconfig \
    --ca "$T/pki/root.pem" --json
json_is "JSON verdict failed with the reason" \
    'j["verdict"] == "failed" and not j["verified"] and "content digest" in j["problems"][0] and j["signers"][0]["content_digest"] == "differs"'

# The last byte of the signature flipped.
python3 -c 'import sys
d = bytearray(open(sys.argv[1], "rb").read()); d[-1] ^= 1
open(sys.argv[2], "wb").write(d)' "$wifi" badsig.mobileconfig
expect_status 1 "broken signature fails" "$PF" inspect badsig.mobileconfig \
    --ca "$T/pki/root.pem"
err_has "broken signature named" "the signature does not verify with the signer's key"

# Signed without the intermediate: the root alone cannot reach the signer.
expect_status 0 "run without --chain" "$PF" run --csv users.csv --out nochain \
    --template scep --signer-cert "$T/pki/signer.pem" \
    --signer-key "$T/pki/signer.key"
nochain=$(ls nochain/latest/*.mobileconfig | head -n 1)
check "openssl agrees the chain is broken" sh -c "! openssl cms -verify \
    -inform DER -in '$nochain' -CAfile '$T/pki/root.pem' -purpose any \
    -out /dev/null 2>/dev/null"
expect_status 1 "no intermediate: chain fails with --ca root" "$PF" inspect \
    "$nochain" --ca "$T/pki/root.pem"
err_has "missing intermediate explained" "its issuer CN=profactory demo intermediate CA,O=profactory demo is neither in the profile nor a root in $T/pki/root.pem (the profile carries only the signer certificate: was it signed without --chain?)"
out_has "chain line says failed" "chain:            FAILED: "
no_challenge "no challenge when the chain fails"
cat "$T/pki/chain.pem" "$T/pki/root.pem" > bundle.pem
expect_status 1 "an intermediate in the --ca file is not trusted" "$PF" \
    inspect "$nochain" --ca bundle.pem
err_has "why the bundle's intermediate does not count" "bundle.pem holds it, but not as a root"
expect_status 0 "with its intermediate, the bundle verifies" "$PF" inspect \
    "$wifi" --ca bundle.pem
expect_status 0 "no intermediate, no --ca: signature still valid" "$PF" \
    inspect "$nochain"

# A root that did not issue the chain.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout other-root.key -subj "/CN=some other root" -days 30 \
    -out other-root.pem 2>/dev/null
cat other-root.pem "$T/pki/root.pem" > two-roots.pem
expect_status 1 "another root: chain fails" "$PF" inspect "$wifi" \
    --ca other-root.pem
err_has "foreign root explained" "its issuer CN=profactory demo root CA,O=profactory demo is neither in the profile nor a root in other-root.pem"
expect_status 0 "a file of several roots, one of them right" "$PF" inspect \
    "$wifi" --ca two-roots.pem

# Unsigned, as run --unsigned writes it.
expect_status 0 "run --unsigned" "$PF" run --csv users.csv --out unsigned \
    --template scep --unsigned
uns=$(ls unsigned/latest/*.mobileconfig | head -n 1)
uchallenge=$(python3 -c 'import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
print(p["PayloadContent"][0]["PayloadContent"]["Challenge"])' "$uns")
expect_status 1 "an unsigned profile fails" "$PF" inspect "$uns" \
    --ca "$T/pki/root.pem"
err_has "unsigned named" "unsigned profile (--allow-unsigned accepts it)"
out_has "verdict unsigned" "verdict:            UNSIGNED"
out_has "unsigned payloads still shown" "PayloadContent[0]:  com.apple.security.scep"
check "no challenge in the unsigned report" sh -c "! grep -qF -- '$uchallenge' '$T/last.out' '$T/last.err'"
expect_status 0 "--allow-unsigned accepts it" "$PF" inspect "$uns" \
    --allow-unsigned --json
json_is "JSON verdict unsigned" 'j["verdict"] == "unsigned" and not j["signed"] and j["signers"] == []'
check "no challenge in the unsigned JSON" sh -c "! grep -qF -- '$uchallenge' '$T/last.out'"

# Signed by openssl: an expired signer, and a dangling reference.
openssl cms -sign -nodetach -binary -md sha256 -outform DER -in "$uns" \
    -signer "$T/pki/signer-expired.pem" -inkey "$T/pki/signer-expired.key" \
    -certfile "$T/pki/chain.pem" -out expired.mobileconfig
expect_status 1 "expired signer fails with --ca" "$PF" inspect \
    expired.mobileconfig --ca "$T/pki/root.pem"
err_has "expiry named" "the signer certificate expired on 2025-01-01T00:00:00Z"
out_has "validity shows EXPIRED" "(EXPIRED "
expect_status 1 "expired signer fails without --ca" "$PF" inspect \
    expired.mobileconfig --json
json_is "JSON: expired signer" 'j["signers"][0]["expired"] and j["verdict"] == "failed"'

python3 - wifi.plist dangling.plist <<'EOF'
import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
wifi = [c for c in p["PayloadContent"] if c["PayloadType"] == "com.apple.wifi.managed"][0]
wifi["PayloadCertificateUUID"] = "00000000-0000-4000-8000-000000000000"
plistlib.dump(p, open(sys.argv[2], "wb"))
EOF
openssl cms -sign -nodetach -binary -md sha256 -outform DER -in dangling.plist \
    -signer "$T/pki/signer.pem" -inkey "$T/pki/signer.key" \
    -certfile "$T/pki/chain.pem" -out dangling.mobileconfig
expect_status 0 "signed by openssl cms -sign: verified" "$PF" inspect \
    dangling.mobileconfig --ca "$T/pki/root.pem"
out_has "dangling reference shown" "PayloadContent[2].PayloadCertificateUUID -> 00000000-0000-4000-8000-000000000000: DANGLING"
expect_status 0 "dangling reference, --json" "$PF" inspect \
    dangling.mobileconfig --ca "$T/pki/root.pem" --json
json_is "JSON: the dangling reference" '[(r["from"], r["key"], r["to"], r["dangling"]) for r in j["references"] if r["key"] == "PayloadCertificateUUID"] == [(2, "PayloadCertificateUUID", None, True)]'

# Files that are not profiles.
expect_status 66 "missing file" "$PF" inspect nosuch.mobileconfig
err_has "missing file named" "nosuch.mobileconfig: No such file or directory"
expect_status 66 "a directory" "$PF" inspect "$T"
head -c 4096 /dev/urandom | tr '\060<\357 ' 'xxxx' > garbage
expect_status 65 "garbage" "$PF" inspect garbage
err_has "garbage named" "garbage: neither a signed profile (DER CMS) nor an XML plist"
: > empty
expect_status 65 "empty file" "$PF" inspect empty
head -c 1000 "$wifi" > truncated
expect_status 65 "truncated CMS" "$PF" inspect truncated
cat "$wifi" "$wifi" > doubled
expect_status 65 "bytes after the CMS" "$PF" inspect doubled
err_has "trailing bytes named" "bytes after the signed data"
openssl cms -sign -binary -md sha256 -outform DER -in "$uns" \
    -signer "$T/pki/signer.pem" -inkey "$T/pki/signer.key" -out detached.p7s
expect_status 65 "detached signature" "$PF" inspect detached.p7s
err_has "detached named" "a detached signature"
openssl cms -encrypt -aes256 -binary -outform DER -in wifi.plist -out enveloped.p7m \
    "$T/pki/signer.pem"
expect_status 65 "enveloped, not signed" "$PF" inspect enveloped.p7m
err_has "not SignedData named" "not SignedData"
check "no challenge in the error messages" sh -c "! grep -qF -- '$uchallenge' '$T/last.err'"
python3 -c 'import plistlib, sys
plistlib.dump(plistlib.load(open(sys.argv[1], "rb")), open(sys.argv[2], "wb"),
              fmt=plistlib.FMT_BINARY)' "$uns" binary.plist
expect_status 65 "binary plist" "$PF" inspect binary.plist
err_has "binary plist named" "a binary plist"
printf 'not a plist\n' > text.txt
openssl cms -sign -nodetach -binary -md sha256 -outform DER -in text.txt \
    -signer "$T/pki/signer.pem" -inkey "$T/pki/signer.key" \
    -certfile "$T/pki/chain.pem" -out signed-text.p7m
expect_status 65 "signed content that is not a plist" "$PF" inspect \
    signed-text.p7m --ca "$T/pki/root.pem"
err_has "content named" "the signed content is not a profile"
out_has "the signature facts are still shown" "signature:        valid"
for body in '<array><string>x</string></array>' \
    '<dict><key>Hello</key><string>world</string></dict>' \
    '<dict><key>PayloadType</key><string>com.apple.wifi.managed</string></dict>'; do
	printf '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">%s</plist>\n' \
	    "$body" > np.plist
	openssl cms -sign -nodetach -binary -md sha256 -outform DER -in np.plist \
	    -signer "$T/pki/signer.pem" -inkey "$T/pki/signer.key" \
	    -certfile "$T/pki/chain.pem" -out np.mobileconfig
	expect_status 65 "signed plist that is not a profile: $body" "$PF" \
	    inspect np.mobileconfig --ca "$T/pki/root.pem"
	check "the reason, said once" grep -Eq \
	    'is not a profile: (the top level is not a dictionary|its top-level PayloadType is not "Configuration")$' \
	    "$T/last.err"
done
printf '<plist version="1.0"><dict><key>a</key>' > broken.plist
expect_status 65 "broken XML plist" "$PF" inspect broken.plist
truncate -s $((16 * 1024 * 1024 + 1)) big.mobileconfig
expect_status 65 "a file over 16 MiB" "$PF" inspect big.mobileconfig
err_has "size named" "big.mobileconfig: larger than 16777216 bytes"

# Damaged copies of a signed and an unsigned profile (bits flipped, bytes
# cut, repeated or inserted at random places, fixed seed): a verdict or
# "not a profile", never a crash.
python3 - "$PF" "$T/pki/root.pem" "$wifi" "$uns" <<'EOF'
import random, subprocess, sys
pf, root, files = sys.argv[1], sys.argv[2], sys.argv[3:]
rng = random.Random(20261122)
bad = []
for src in files:
    data = open(src, "rb").read()
    for i in range(40):
        d = bytearray(data)
        pos = rng.randrange(len(d))
        k = i % 4
        if k == 0:
            for _ in range(rng.randint(1, 4)):
                d[rng.randrange(len(d))] ^= 1 << rng.randrange(8)
        elif k == 1:
            del d[pos:pos + rng.randint(1, 64)]
        elif k == 2:
            d[pos:pos] = d[pos:pos + 64]
        else:
            d[pos:pos] = bytes(rng.randrange(256) for _ in range(8))
        open("damaged", "wb").write(d)
        args = ["--ca", root] if i % 2 else ["--json"]
        r = subprocess.run([pf, "inspect", "damaged"] + args,
                           capture_output=True)
        if r.returncode not in (0, 1, 65):
            bad.append("%s #%d: exit %d %s" % (src, i, r.returncode,
                                               r.stderr[-200:]))
print(("ok - " if not bad else "not ok - ") +
      "80 damaged profiles: exit 0, 1 or 65" +
      ("" if not bad else " (" + "; ".join(bad[:3]) + ")"))
EOF

# Usage and the --ca file.
expect_status 64 "no FILE" "$PF" inspect
expect_status 64 "two files" "$PF" inspect "$wifi" "$wifi"
expect_status 64 "unknown option" "$PF" inspect --frobnicate "$wifi"
expect_status 64 "--ca without a file" "$PF" inspect "$wifi" --ca
expect_status 0 "help inspect" "$PF" help inspect
out_has "usage names the options" "inspect FILE [--ca PEM] [--json] [--allow-unsigned]"
expect_status 66 "--ca file missing" "$PF" inspect "$wifi" --ca nosuch.pem
expect_status 78 "--ca file without a certificate" "$PF" inspect "$wifi" \
    --ca garbage
expect_status 78 "--ca file with only the intermediate" "$PF" inspect \
    "$wifi" --ca "$T/pki/chain.pem"
err_has "no root named" "chain.pem: its certificate is not a root"
finish
