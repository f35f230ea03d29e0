#!/usr/bin/env python3
"""Cross-check `profactory inspect` on every profile of a run directory.

usage: check_inspect.py PROFACTORY RUNDIR ROOTPEM SIGNERPEM

For each profile, `inspect --ca ROOTPEM --json` and the text report are
compared with what openssl and plistlib read from the file independently:
the plist comes from `openssl cms -verify -noverify` (the signature is
checked, the chain not), the signer certificate from `-signer`, its
fingerprint from `openssl x509 -fingerprint -sha256`.  The challenge is in
every profile and in neither report.  Prints one "ok - ..." / "not ok -
..." line per check (each over all profiles).
"""
import datetime
import glob
import json
import os
import plistlib
import subprocess
import sys
import tempfile

pf, rundir, root, signer_pem = sys.argv[1:5]
failed = False


def report(ok, name, bad=()):
    global failed
    bad = list(bad)
    print(("ok - " if ok and not bad else "not ok - ") + name +
          ("" if ok and not bad else " (" + "; ".join(map(str, bad[:3])) + ")"))
    if not ok or bad:
        failed = True


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), check=True,
                          capture_output=True).stdout


def fingerprint(pem_path):
    out = openssl("x509", "-in", pem_path, "-noout", "-fingerprint",
                  "-sha256").decode()
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def refs_of(payload):
    """(path, uuid) of every reference below a payload, as inspect names
    them: keys ending in CertificateUUID, arrays under keys ending in
    CertificateAnchorUUID."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                p = path + ("." if path else "") + k
                if k.endswith("CertificateUUID"):
                    found.append((p, v))
                elif k.endswith("CertificateAnchorUUID") and isinstance(v, list):
                    for i, u in enumerate(v):
                        found.append(("%s[%d]" % (p, i), u))
                else:
                    walk(v, p)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s[%d]" % (path, i))

    walk(payload, "")
    return found


def iso(s):
    return datetime.datetime.strptime(s, "%b %d %H:%M:%S %Y %Z").strftime(
        "%Y-%m-%dT%H:%M:%SZ")


files = sorted(glob.glob(os.path.join(rundir, "*.mobileconfig")))
report(len(files) > 0, "the run has profiles", [] if files else [rundir])
want_fp = fingerprint(signer_pem)
subject = openssl("x509", "-in", signer_pem, "-noout", "-subject",
                  "-nameopt", "RFC2253").decode().strip().split("=", 1)[1]
not_after = iso(openssl("x509", "-in", signer_pem, "-noout",
                        "-enddate").decode().strip().split("=", 1)[1])

status_bad, json_bad, verdict_bad, fp_bad, top_bad, types_bad = [], [], [], [], [], []
wiring_bad, scep_bad, leak, absent, text_bad, nscep = [], [], [], [], [], 0
tmpdir = tempfile.TemporaryDirectory()
tmp = tmpdir.name
for path in files:
    name = os.path.basename(path)
    blob = open(path, "rb").read()
    xml = openssl("cms", "-verify", "-noverify", "-inform", "DER", "-in", path,
                  "-signer", os.path.join(tmp, "signer.pem"))
    pl = plistlib.loads(xml)
    embedded_fp = fingerprint(os.path.join(tmp, "signer.pem"))

    pj = subprocess.run([pf, "inspect", path, "--ca", root, "--json"],
                        capture_output=True)
    pt = subprocess.run([pf, "inspect", "--ca", root, path],
                        capture_output=True)
    if pj.returncode != 0 or pt.returncode != 0:
        status_bad.append("%s: %d/%d %s" % (name, pj.returncode, pt.returncode,
                                            pt.stderr.decode()[:200]))
        continue
    try:
        j = json.loads(pj.stdout.decode("utf-8"))
    except ValueError as e:
        json_bad.append("%s: %s" % (name, e))
        continue
    text = pt.stdout.decode("utf-8")

    if not (j["verdict"] == "verified" and j["verified"] is True and
            j["signed"] is True and j["problems"] == [] and
            text.splitlines()[-1].startswith("verdict:") and
            "VERIFIED: signature valid" in text.splitlines()[-1]):
        verdict_bad.append(name)
    s = j["signers"]
    if not (len(s) == 1 and s[0]["sha256"] == want_fp == embedded_fp and
            s[0]["subject"] == subject and s[0]["not_after"] == not_after and
            s[0]["signature"] == "valid" and
            s[0]["content_digest"] == "matches" and
            s[0]["chain"]["status"] == "verified" and
            len(s[0]["chain"]["certificates"]) == 3 and
            s[0]["chain"]["certificates"][2]["source"] == "ca" and
            want_fp in text):
        fp_bad.append(name)

    prof = j["profile"]
    if not (prof["identifier"] == pl["PayloadIdentifier"] and
            prof["uuid"] == pl["PayloadUUID"] and
            prof["type"] == pl["PayloadType"] and
            prof["display_name"] == pl.get("PayloadDisplayName") and
            j["content_bytes"] == len(xml) and j["bytes"] == len(blob)):
        top_bad.append(name)
    pays = pl["PayloadContent"]
    got = [(p["type"], p["identifier"], p["uuid"]) for p in j["payloads"]]
    want = [(p["PayloadType"], p["PayloadIdentifier"], p["PayloadUUID"])
            for p in pays]
    if got != want:
        types_bad.append("%s: %s != %s" % (name, got, want))

    uuid_at = {p["PayloadUUID"]: i for i, p in enumerate(pays)}
    want_refs = sorted((i, path_, u, uuid_at.get(u))
                       for i, p in enumerate(pays) for path_, u in refs_of(p))
    got_refs = sorted((r["from"], r["key"], r["uuid"], r["to"])
                      for r in j["references"])
    if got_refs != want_refs or not want_refs and len(pays) > 1 or \
            any(r["dangling"] for r in j["references"]):
        wiring_bad.append("%s: %s != %s" % (name, got_refs, want_refs))
    for r in j["references"]:
        line = "PayloadContent[%d].%s -> PayloadContent[%d] (%s)" % (
            r["from"], r["key"], r["to"], pays[r["to"]]["PayloadType"])
        if line not in text:
            wiring_bad.append("%s: text lacks %r" % (name, line))

    for i, p in enumerate(pays):
        if p["PayloadType"] != "com.apple.security.scep":
            continue
        nscep += 1
        c = p["PayloadContent"]
        js = j["payloads"][i].get("scep") or {}
        challenge = c["Challenge"]
        if not (js.get("url") == c["URL"] and js.get("subject") == c["Subject"]
                and js.get("subject_alt_name") == c.get("SubjectAltName")
                and js.get("keysize") == c["Keysize"]
                and js.get("key_type") == c["Key Type"]
                and js.get("challenge") == {"set": True, "masked": True,
                                            "characters": len(challenge)}):
            scep_bad.append("%s: %s" % (name, js))
        # the text shows the subject with control characters escaped
        subj = "".join("/" + "+".join("%s=%s" % (t, v) for t, v in rdn)
                       for rdn in c["Subject"]).replace("\n", "\\n")
        if "  Subject:" not in text or subj not in text or \
                "(set, %d characters, masked)" % len(challenge) not in text:
            text_bad.append("%s: %r" % (name, subj))
        if challenge.encode() not in blob:
            absent.append(name)
        for out in (pj.stdout, pt.stdout):
            if challenge.encode() in out:
                leak.append(name)
        if challenge in json.dumps(j, ensure_ascii=False):
            leak.append(name + " (decoded json)")

report(not status_bad, "inspect --ca root exits 0 for every profile", status_bad)
report(not json_bad, "--json is valid JSON", json_bad)
report(not verdict_bad, "verdict verified, in JSON and on the last text line", verdict_bad)
report(not fp_bad, "signer subject, notAfter and SHA-256 match openssl x509; chain signer-intermediate-root", fp_bad)
report(not top_bad, "PayloadIdentifier, PayloadUUID, PayloadType, PayloadDisplayName match plistlib", top_bad)
report(not types_bad, "payload types, identifiers and UUIDs match plistlib, in order", types_bad)
report(not wiring_bad, "UUID references match the plist's, in JSON and text", wiring_bad)
report(nscep > 0 and not scep_bad, "SCEP URL, Subject, SubjectAltName, Keysize, Key Type and challenge length match", scep_bad)
report(not text_bad, "text report shows the SCEP subject (newlines escaped) and the masked challenge", text_bad)
report(nscep > 0 and not absent, "every profile carries its challenge", absent)
report(not leak, "no challenge in inspect's text or JSON output", leak)
sys.exit(1 if failed else 0)
