#!/usr/bin/env python3
"""Check the messages `profactory mail` made, with Python's email package.

usage: check_mail.py MSGDIR RUNDIR DBFILE RUN FROM [options]

MSGDIR holds the messages (*.eml: OUT/RUN/mail/, or what the SMTP sink
received, each with a .json of its envelope).  Each message is parsed with
BytesParser(policy=email.policy.default) and matched with the profile of
run RUN whose file its attachment is named after; the user's columns come
from the database (sqlite3).  Checked: CRLF line ends and no line over 998;
exactly the expected header fields (nothing a CSV value could add); From
and To (address and decoded display name); the decoded Subject; the
attachment's type, decoded file name and bytes (equal to RUNDIR/file);
the body's filled placeholders; unique Message-IDs; the boundary only
where it belongs.  Options:
  --from-name NAME     the From display name
  --subject FMT        expected subject, str.format() with the user's
                       columns and user, template, run
  --body-has FMT       the text part contains this (repeatable)
  --count N            exactly N messages
  --mode              files are 0600 in a 0700 directory
  --sink               check the envelope recipients and the mail_sent
                       records against the messages
Prints one "ok - ..." / "not ok - ..." line per check.
"""
import argparse
import email
import email.policy
import glob
import json
import os
import re
import sqlite3
import stat
import sys
from email.parser import BytesParser

ap = argparse.ArgumentParser()
ap.add_argument("msgdir")
ap.add_argument("rundir")
ap.add_argument("db")
ap.add_argument("run")
ap.add_argument("from_addr")
ap.add_argument("--from-name", default="")
ap.add_argument("--subject", default="Your configuration profile")
ap.add_argument("--body-has", action="append", default=[])
ap.add_argument("--count", type=int)
ap.add_argument("--mode", action="store_true")
ap.add_argument("--sink", action="store_true")
a = ap.parse_args()
failed = False


def report(ok, name, detail=""):
    global failed
    print(("ok - " if ok else "not ok - ") + name +
          ("" if ok or not detail else " (" + detail + ")"))
    if not ok:
        failed = True


def one_line(s):
    """A value as a header carries it: controls made spaces, trimmed."""
    return re.sub(r"[\x00-\x1f\x7f\x80-\x9f]", " ", s).strip(" \t")


db = sqlite3.connect(a.db)
profiles = {}
for pid, file, user, attrs, tmpl in db.execute(
        "SELECT p.id, p.file, u.key, u.attrs, t.name FROM profiles p "
        "JOIN users u ON u.id = p.user_id JOIN templates t ON "
        "t.id = p.template_id JOIN runs r ON r.id = p.run_id "
        "WHERE r.name = ?", (a.run,)):
    profiles[file] = (pid, user, json.loads(attrs), tmpl)
sent = {pid: (to, mid) for pid, to, mid in db.execute(
    "SELECT profile_id, to_addr, message_id FROM mail_sent")}

files = sorted(glob.glob(os.path.join(a.msgdir, "*.eml")))
if a.count is not None:
    report(len(files) == a.count, "%d messages" % a.count,
           "found %d" % len(files))
if a.mode:
    m = stat.S_IMODE(os.stat(a.msgdir).st_mode)
    report(m == 0o700, "message directory is 0700", oct(m))

want_fields = ["from", "to", "subject", "date", "message-id",
               "mime-version", "content-type"]
ids = set()
for path in files:
    name = os.path.basename(path)
    raw = open(path, "rb").read()
    bad = [l for l in raw.split(b"\r\n")[:-1] if b"\r" in l or b"\n" in l]
    report(raw.endswith(b"\r\n") and not bad and
           max(len(l) for l in raw.split(b"\r\n")) <= 998,
           name + ": CRLF line ends, lines within 998")
    if a.mode:
        m = stat.S_IMODE(os.stat(path).st_mode)
        report(m == 0o600, name + ": mode 0600", oct(m))
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    fields = [k.lower() for k in msg.keys()]
    report(sorted(fields) == sorted(want_fields),
           name + ": exactly the expected header fields", repr(fields))

    atts = list(msg.iter_attachments())
    if len(atts) != 1:
        report(False, name + ": one attachment", "%d" % len(atts))
        continue
    att = atts[0]
    fname = att.get_filename()
    if fname not in profiles:
        report(False, name + ": attachment named after a profile of the "
               "run", repr(fname))
        continue
    pid, user, attrs, tmpl = profiles.pop(fname)
    vals = dict(attrs, user=user, template=tmpl, run=a.run)
    report(att.get_content_type() == "application/x-apple-aspen-config",
           name + ": attachment type", att.get_content_type())
    report(att.get("Content-Disposition", "").startswith("attachment"),
           name + ": attachment disposition")
    with open(os.path.join(a.rundir, fname), "rb") as f:
        report(att.get_content() == f.read(),
               name + ": attachment is the profile byte for byte")

    frm = msg["From"].addresses
    report(len(frm) == 1 and frm[0].addr_spec == a.from_addr and
           frm[0].display_name == a.from_name, name + ": From",
           str(msg["From"]))
    to = msg["To"].addresses
    want_name = one_line(attrs.get("name", ""))
    report(len(to) == 1 and to[0].addr_spec == attrs.get("email") and
           to[0].display_name == want_name,
           name + ": To is the user's address and name",
           "%r, want %r <%s>" % (str(msg["To"]), want_name,
                                 attrs.get("email")))
    want_subj = re.sub(" +", " ", one_line(a.subject.format(**vals)))
    report(str(msg["Subject"]) == want_subj, name + ": Subject decoded",
           "%r, want %r" % (str(msg["Subject"]), want_subj))
    report(msg["Date"].datetime is not None, name + ": Date parses")
    mid = str(msg["Message-ID"])
    report(re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", mid) and mid not in ids,
           name + ": Message-ID well formed and unique", mid)
    ids.add(mid)

    body = msg.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    text = text.replace("\r\n", "\n")
    for fmt in a.body_has:
        want = fmt.format(**vals).replace("\r\n", "\n").replace("\r", "\n")
        report(want in text, name + ": body has " + repr(fmt),
               repr(text[:200]))

    boundary = msg.get_boundary()
    report(boundary is not None and
           raw.count(b"--" + boundary.encode()) == 3,
           name + ": boundary only as delimiters")
    report(all(not p.defects for p in msg.walk()) or
           all(str(d).startswith("duplicate parameter")
               for p in msg.walk() for d in p.defects),
           name + ": no defects but filename and filename* together",
           repr([p.defects for p in msg.walk()]))

    if a.sink:
        env = json.load(open(path[:-4] + ".json"))
        report(env["rcpt_to"] == [attrs.get("email")],
               name + ": envelope recipient", repr(env["rcpt_to"]))
        report(sent.get(pid) == (attrs.get("email"), mid),
               name + ": recorded in mail_sent", repr(sent.get(pid)))

print("# messages checked: %d" % len(files))
sys.exit(1 if failed else 0)
