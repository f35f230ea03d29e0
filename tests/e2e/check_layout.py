#!/usr/bin/env python3
"""Check one run's output tree, OUT/current/ and index.html with independent
tools (os, openssl, plistlib, html.parser).  Used by t_layout.sh.

usage: check_layout.py OUT RUN ROOTPEM LAYOUT LABEL

LAYOUT (flat or by-user) is the layout of the profiles RUN wrote; profiles
it left unchanged keep the path an earlier run recorded.  Prints one
"ok - LABEL: ..." or "not ok - LABEL: ..." line per check.
"""
import collections
import hashlib
import html.parser
import json
import os
import plistlib
import re
import stat
import subprocess
import sys
import urllib.parse

out, run, root, layout, label = sys.argv[1:6]
out = os.path.realpath(out)
rundir = os.path.join(out, run)
failed = False

RESERVED = {"con", "prn", "aux", "nul", "latest", "current"} | \
    {"com%d" % i for i in range(1, 10)} | {"lpt%d" % i for i in range(1, 10)} | \
    {"com\u00b9", "com\u00b2", "com\u00b3", "lpt\u00b9", "lpt\u00b2", "lpt\u00b3"}
RUN_FILES = {"manifest.csv", "manifest.json", "index.html"}


def report(ok, name, detail=""):
    global failed
    print(("ok - " if ok else "not ok - ") + label + ": " + name +
          ("" if ok or not detail else " (" + str(detail)[:400] + ")"))
    if not ok:
        failed = True


def inside(path):
    p = os.path.realpath(path)
    return p == out or p.startswith(out + os.sep)


def safe_part(name):
    """Why name is not a safe path part, or None."""
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        return "empty, dot or separator"
    if name[0] in ".-+@":
        return "leading " + name[0]
    if name.endswith("."):
        return "trailing dot"
    for ch in name:
        if ord(ch) < 0x80 and not (ch.islower() or ch.isdigit() or ch in "@._+-~"):
            return "character %r" % ch
        if ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0:
            return "control character"
    if name.split(".")[0] in RESERVED:
        return "reserved device name"
    return None


def sha8(s):
    return hashlib.sha256(s.encode()).hexdigest()[:8]


with open(os.path.join(rundir, "manifest.json")) as f:
    mj = json.load(f)
rows = mj["rows"]
issued = [r for r in rows if r["status"] in ("issued", "reissued")]
handed = [r for r in rows if r["status"] in ("issued", "reissued", "unchanged")]

# --- the run directory: what is there, modes, nothing else -------------
bad_mode, extra, links = [], [], []
found = set()
for dirpath, dirnames, filenames in os.walk(rundir):
    rel = os.path.relpath(dirpath, rundir)
    depth = 0 if rel == "." else rel.count(os.sep) + 1
    st = os.lstat(dirpath)
    if stat.S_IMODE(st.st_mode) != 0o700:
        bad_mode.append(rel + "/ %o" % stat.S_IMODE(st.st_mode))
    for d in dirnames:
        if os.path.islink(os.path.join(dirpath, d)):
            links.append(os.path.join(rel, d))
        elif depth > 0 or layout == "flat":
            extra.append(os.path.join(rel, d) + "/")
    for n in filenames:
        p = os.path.join(dirpath, n)
        r = os.path.normpath(os.path.join(rel, n))
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            links.append(r)
            continue
        if stat.S_IMODE(st.st_mode) != 0o600 or not stat.S_ISREG(st.st_mode):
            bad_mode.append(r + " %o" % stat.S_IMODE(st.st_mode))
        if depth == 0 and n in RUN_FILES:
            continue
        if not n.endswith(".mobileconfig") or \
                (layout == "by-user") != (depth == 1) or depth > 1:
            extra.append(r)
            continue
        found.add(r)
report(not bad_mode, "run directory and user folders 0700, files 0600", bad_mode[:5])
report(not links, "no symbolic link in the run directory", links[:5])
report(not extra, "nothing but manifests, index.html and %s profiles" % layout, extra[:5])
want = {r["file"] for r in issued}
report(found == want, "the files are exactly the issued rows' files",
       "missing %s, unrecorded %s" % (sorted(want - found)[:3], sorted(found - want)[:3]))
report(all(not r["file"].startswith("../") for r in issued) and
       all(r["file"].startswith("../") for r in rows if r["status"] == "unchanged"),
       "issued files are in the run, unchanged ones in an earlier run")

# --- names ---------------------------------------------------------------
unsafe = []
folders = collections.defaultdict(set)
for r in issued:
    parts = r["file"].split("/")
    if (layout == "by-user") != (len(parts) == 2):
        unsafe.append("%s: not a %s path" % (r["file"], layout))
        continue
    for p in parts:
        why = safe_part(p)
        if why:
            unsafe.append("%s: %s" % (r["file"], why))
    if layout == "by-user":
        folder = parts[0]
        folders[folder].add(r["user"])
        if folder != r["user"] and not folder.endswith("~" + sha8(r["user"])):
            unsafe.append("%s: changed key %r without its digest" % (folder, r["user"]))
        if folder in RUN_FILES or folder.endswith(".mobileconfig"):
            unsafe.append("%s: folder named like a file" % folder)
report(not unsafe, "every path part is safe (changed keys carry their digest)", unsafe[:5])

if layout == "by-user":
    # One folder per user; a folder shared only by a key that is literally
    # another key's safe name, with the clash resolved on the file name.
    per_user = collections.defaultdict(set)
    for r in issued:
        per_user[r["user"]].add(r["file"].split("/")[0])
    multi = {u: f for u, f in per_user.items() if len(f) != 1}
    report(not multi, "each user's profiles are in one folder", multi)
    shared = {f: u for f, u in folders.items() if len(u) > 1}
    bad_share = [f for f, u in shared.items() if f not in u]
    report(not bad_share, "a folder is shared only with a key equal to its name", bad_share)
    names = [r["file"] for r in issued]
    report(len(names) == len(set(names)), "no two rows share a file")

# --- the profiles ----------------------------------------------------------
verify_bad = []
for r in issued:
    path = os.path.join(rundir, r["file"])
    data = open(path, "rb").read()
    if hashlib.sha256(data).hexdigest() != r["sha256"] or len(data) != r["bytes"]:
        verify_bad.append(r["file"] + ": digest or size")
        continue
    p = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", path,
                        "-CAfile", root, "-purpose", "any"], capture_output=True)
    if p.returncode != 0:
        verify_bad.append(r["file"] + ": " + p.stderr.decode(errors="replace")[:200])
        continue
    pl = plistlib.loads(p.stdout)
    if pl.get("PayloadIdentifier") != r["payload_identifier"] or \
            not pl["PayloadIdentifier"].endswith("." + r["user"]):
        verify_bad.append(r["file"] + ": PayloadIdentifier")
report(not verify_bad,
       "the %d profiles the run wrote verify with openssl cms -CAfile root, "
       "as recorded" % len(issued), verify_bad[:3])

# --- OUT/current/ mirrors the recorded paths ------------------------------
cur = os.path.join(out, "current")
cur_files, cur_bad = set(), []
for dirpath, dirnames, filenames in os.walk(cur):
    rel = os.path.relpath(dirpath, cur)
    if stat.S_IMODE(os.lstat(dirpath).st_mode) != 0o700:
        cur_bad.append(rel + "/ mode")
    if rel != "." and not filenames and not dirnames:
        cur_bad.append(rel + "/ empty")
    for d in dirnames:
        if os.path.islink(os.path.join(dirpath, d)):
            cur_bad.append(os.path.join(rel, d) + " is a symbolic link")
    for n in filenames:
        cur_files.add(os.path.normpath(os.path.join(rel, n)))
report(not cur_bad, "current/ folders 0700, none empty, no symbolic link", cur_bad[:5])
want_cur, not_same = set(), []
for r in handed:
    f = r["file"]
    src = os.path.normpath(os.path.join(rundir, f))
    name = f.split("/", 2)[2] if f.startswith("../") else f
    want_cur.add(name)
    c = os.path.join(cur, name)
    if not os.path.isfile(c) or not os.path.samefile(c, src):
        not_same.append(name)
report(cur_files == want_cur and not not_same,
       "current/ holds exactly each handed-out profile, under its recorded path, "
       "as a hard link",
       "extra %s, missing %s, not the same file %s" %
       (sorted(cur_files - want_cur)[:3], sorted(want_cur - cur_files)[:3], not_same[:3]))

# --- no escape anywhere -------------------------------------------------------
escapes = []
for dirpath, dirnames, filenames in os.walk(out):
    for n in dirnames + filenames:
        p = os.path.join(dirpath, n)
        if os.path.islink(p) and p != os.path.join(out, "latest"):
            escapes.append(os.path.relpath(p, out) + " is a symbolic link")
        elif not inside(p):
            escapes.append(os.path.relpath(p, out))
report(not escapes, "nothing under OUT leads outside it", escapes[:5])


# --- index.html --------------------------------------------------------------
class Index(html.parser.HTMLParser):
    ALLOWED = {"html", "head", "meta", "title", "style", "body", "h1", "h2",
               "table", "thead", "tbody", "tr", "th", "td", "a"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.bad, self.rows, self.summary = [], [], [], {}
        self.table = None
        self.cell = None
        self.text = ""
        self.row = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.ALLOWED:
            self.bad.append("<%s>" % tag)
        for k, v in attrs:
            if k.startswith("on") or k in ("src", "srcset", "action", "formaction"):
                self.bad.append("%s=%r" % (k, v))
            if k == "href" and tag != "a":
                self.bad.append("href on <%s>" % tag)
        a = dict(attrs)
        if tag == "table":
            self.table = a.get("id")
        elif tag == "tr" and self.table == "profiles":
            self.row = {"cells": {}, "hrefs": []}
        elif tag == "tr" and self.table == "summary":
            self.row = {"th": "", "td": ""}
        elif tag in ("td", "th"):
            self.cell = a.get("class", tag)
            self.text = ""
        elif tag == "a" and self.row is not None and "hrefs" in self.row:
            self.row["hrefs"].append((self.cell, a.get("href")))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            if self.table == "profiles" and tag == "td":
                self.row["cells"][self.cell] = self.text
            elif self.table == "summary":
                self.row[tag] = self.text
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if self.table == "profiles" and self.row["cells"]:
                self.rows.append(self.row)
            elif self.table == "summary" and self.row["th"]:
                self.summary[self.row["th"]] = self.row["td"]
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.text += data


def as_html_text(s):
    # The page shows what the CSV shows: control characters (but tab, CR,
    # LF) as U+FFFD.
    return "" if s is None else re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "\ufffd", s)


raw = open(os.path.join(rundir, "index.html"), "rb").read()
st = os.stat(os.path.join(rundir, "index.html"))
report(stat.S_IMODE(st.st_mode) == 0o600, "index.html is mode 0600")
page = raw.decode("utf-8")
report(page.startswith("<!DOCTYPE html>"), "index.html is an HTML5 document")
ix = Index()
ix.feed(page)
ix.close()
report(not ix.bad and "script" not in ix.tags and b"<script" not in raw.lower(),
       "no script, no external resource, no event handler", ix.bad[:5])
report(len(ix.rows) == len(rows), "one table row per manifest row",
       "%d rows, %d in the manifest" % (len(ix.rows), len(rows)))
text_bad, href_bad = [], []
for hr, mr in zip(ix.rows, rows):
    c = hr["cells"]
    for col, key in (("user", "user"), ("template", "template"),
                     ("status", "status"), ("error", "error")):
        if c.get(col, None) != as_html_text(mr[key]):
            text_bad.append("%s %r != %r" % (col, c.get(col), mr[key]))
    link = mr["status"] in ("issued", "reissued", "unchanged")
    if c.get("file") != as_html_text(mr["file"]):
        text_bad.append("file %r != %r" % (c.get("file"), mr["file"]))
    if not link:
        if hr["hrefs"]:
            href_bad.append("%s row has a link" % mr["status"])
        continue
    if len(hr["hrefs"]) != 1 or hr["hrefs"][0][0] != "file":
        href_bad.append("%s: %d links" % (mr["file"], len(hr["hrefs"])))
        continue
    href = hr["hrefs"][0][1]
    u = urllib.parse.urlsplit(href)
    if u.scheme or u.netloc or u.query or u.fragment or href.startswith("/"):
        href_bad.append("%r is not a relative path" % href)
        continue
    if re.search(r"[^A-Za-z0-9._~/%-]", href):
        href_bad.append("%r is not percent-encoded" % href)
    path = urllib.parse.unquote(href, errors="strict")
    target = os.path.normpath(os.path.join(rundir, path))
    if path != mr["file"] or not inside(target) or not os.path.isfile(target):
        href_bad.append("%r -> %r" % (href, path))
report(not text_bad, "each row's user, template, status, file and error are the "
       "manifest's, as text", text_bad[:3])
report(not href_bad, "every link is a relative, percent-encoded path to the "
       "profile's file inside OUT; failed and revoked rows have none", href_bad[:3])
counts = mj["summary"]["counts"]
sm = ix.summary
report(sm.get("Run") == run and all(sm.get(k.capitalize()) == str(v)
                                    for k, v in counts.items()),
       "the summary names the run and its counts", sm)
# Values that would be markup appear escaped in the bytes.
esc_bad = []
for r in rows:
    for v in (r["user"], r["error"] or ""):
        v = as_html_text(v)
        if not any(ch in v for ch in "<>&\"'"):
            continue
        want = v.replace("&", "&amp;").replace("<", "&lt;").replace(
            ">", "&gt;").replace('"', "&quot;").replace("'", "&#39;")
        if want.encode() not in raw:
            esc_bad.append(v)
report(not esc_bad, "values with < > & \" ' appear escaped", esc_bad[:3])
sys.exit(1 if failed else 0)
