#!/usr/bin/env python3
"""Check one run of a corpus CSV case against its .expect file.

    check.py CASE EXPECT CSV RUNDIR ROOT.pem

Prints "ok - CASE: ..." / "not ok - CASE: ..." lines.

Besides the expectations (rows, row, file, roundtrip), every run is held
to the same rules:
  - manifest.csv and manifest.json are UTF-8, the JSON parses, both have
    the same rows;
  - no manifest.csv cell starts with = + - @ tab CR; a cell that would is
    the JSON value with a leading apostrophe;
  - a failed row has an error and no file; an issued row has a file and
    no error;
  - every file is a safe name right in the run directory, mode 0600, of
    the recorded size and SHA-256; the run directory holds exactly those
    profiles, the two manifests and index.html;
  - index.html parses with html.parser into only the page's own tags (no
    script), one table row per manifest row whose user, template, status
    and error are the JSON values as text (control characters as U+FFFD);
  - every profile verifies with openssl cms up to the root, and its
    content parses with plistlib as a Configuration profile.
"""
import csv
import hashlib
import html.parser
import io
import json
import os
import re
import plistlib
import stat
import subprocess
import sys

FORMULA = "=+-@\t\r"


class Page(html.parser.HTMLParser):
    """index.html's table rows (cell text by class) and any tag, or
    attribute that runs something, the page has no business holding."""
    TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2",
            "table", "thead", "tbody", "tr", "th", "td", "a"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.bad = [], []
        self.row, self.cell = None, None

    def handle_starttag(self, tag, attrs):
        if tag not in self.TAGS:
            self.bad.append("<%s>" % tag)
        self.bad += ["%s=" % k for k, v in attrs
                     if k.startswith("on") or k == "src"]
        cls = dict(attrs).get("class")
        if tag == "tr":
            self.row = {}
        elif tag == "td" and self.row is not None and cls:
            self.cell = cls
            self.row[cls] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None
        elif tag == "tr" and self.row:
            self.rows.append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.row[self.cell] += data
RESERVED = {"con", "prn", "aux", "nul"} | {
    "%s%d" % (d, i) for d in ("com", "lpt") for i in range(1, 10)}
FIELDS = ("line", "user", "template", "template_version", "status", "file",
          "sha256", "bytes", "payload_identifier", "challenge_id",
          "challenge_expires", "error")
SCEP = "com.apple.security.scep"

results = []


def parse_expect(path):
    exp = {"rows": None, "row": [], "file": [], "roundtrip": False}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            word, _, rest = line.partition(" ")
            if word == "rows":
                exp["rows"] = int(rest)
            elif word == "row":
                ln, _, rest = rest.partition(" ")
                status, _, text = rest.partition(" ")
                exp["row"].append((int(ln), status, text))
            elif word == "file":
                ln, _, name = rest.partition(" ")
                exp["file"].append((int(ln), name))
            elif word == "roundtrip":
                exp["roundtrip"] = True
    return exp


def main():
    case, expect, csv_path, rundir, root = sys.argv[1:6]
    exp = parse_expect(expect)

    def check(cond, name, detail=""):
        if cond:
            print("ok - %s: %s" % (case, name))
        else:
            if len(detail) > 300:
                detail = detail[:300] + "..."
            print("not ok - %s: %s%s" % (case, name,
                                         " (%s)" % detail if detail else ""))
            results.append(name)
        return cond

    def readb(name):
        with open(os.path.join(rundir, name), "rb") as f:
            return f.read()

    # The manifests: UTF-8, parseable, the same rows.
    raw_csv, raw_json = readb("manifest.csv"), readb("manifest.json")
    for what, raw in (("manifest.csv", raw_csv), ("manifest.json", raw_json)):
        try:
            raw.decode("utf-8")
            good = True
        except UnicodeDecodeError as e:
            good, why = False, str(e)
        check(good, "%s is UTF-8" % what, "" if good else why)
    try:
        doc = json.loads(raw_json.decode("utf-8", "surrogateescape"))
        check(True, "manifest.json parses")
    except ValueError as e:
        check(False, "manifest.json parses", str(e))
        return
    jrows = doc.get("rows", [])
    crows = list(csv.reader(io.StringIO(
        raw_csv.decode("utf-8", "surrogateescape"), newline="")))
    check(crows and tuple(crows[0][:len(FIELDS)]) == FIELDS,
          "manifest.csv has its header", repr(crows[:1]))
    crows = crows[1:]
    check(len(crows) == len(jrows), "manifest.csv and manifest.json have "
          "the same rows", "%d vs %d" % (len(crows), len(jrows)))
    if exp["rows"] is not None:
        check(len(jrows) == exp["rows"], "%d manifest rows" % exp["rows"],
              "found %d" % len(jrows))

    formula_cells, mismatch = [], []
    for c, j in zip(crows, jrows):
        for k, cell in enumerate(c):
            if cell and cell[0] in FORMULA:
                formula_cells.append(cell)
        for k, name in enumerate(FIELDS):
            v = j.get(name)
            v = "" if v is None else str(v)
            want = "'" + v if v and v[0] in FORMULA else v
            # The CSV (read by people and terminals) shows control
            # characters other than tab, CR and LF as U+FFFD.
            want = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "\ufffd",
                          want)
            if k >= len(c) or c[k] != want:
                mismatch.append((name, c[k] if k < len(c) else None, want))
    check(not formula_cells, "no manifest.csv cell starts a formula",
          repr(formula_cells[:3]))
    check(not mismatch, "manifest.csv cells are the JSON values, "
          "neutralised, control characters shown as U+FFFD",
          repr(mismatch[:3]))

    # Each row's status, error and file.
    bad, files = [], {}
    for j in jrows:
        st, f, err = j.get("status"), j.get("file"), j.get("error")
        if st == "failed":
            if f or not err:
                bad.append(("failed row with a file or without an error", j))
        elif st in ("issued", "reissued"):
            if not f or err:
                bad.append(("issued row without a file or with an error", j))
            else:
                files[f] = j
        else:
            bad.append(("unknown status", j))
    check(not bad, "failed rows name their problem, issued rows their file",
          repr(bad[:2]))

    unsafe = []
    for f, j in files.items():
        stem = f.split(".", 1)[0].lower()
        if ("/" in f or "\\" in f or f[0] in ".-+@=~" or stem in RESERVED
                or any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in f)
                or len(f.encode("utf-8", "surrogateescape")) > 255):
            unsafe.append(f)
            continue
        p = os.path.join(rundir, f)
        st = os.lstat(p)
        data = readb(f)
        if (not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o600
                or st.st_size != j.get("bytes")
                or hashlib.sha256(data).hexdigest() != j.get("sha256")):
            unsafe.append(f)
    check(not unsafe, "profile files: safe names, mode 0600, recorded size "
          "and digest", repr(unsafe[:3]))
    on_disk = set(os.listdir(rundir)) - {"manifest.csv", "manifest.json",
                                         "index.html"}
    check(on_disk == set(files), "the run directory holds exactly the "
          "issued profiles, the manifests and index.html",
          "extra %r, missing %r" % (sorted(on_disk - set(files))[:3],
                                    sorted(set(files) - on_disk)[:3]))

    # index.html: the same rows, as text, never as markup.
    page = Page()
    try:
        page.feed(readb("index.html").decode("utf-8"))
        page.close()
    except (UnicodeDecodeError, OSError) as e:
        page.bad.append(str(e))
    check(not page.bad, "index.html: UTF-8, only the page's own tags",
          repr(page.bad[:3]))
    ctl = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
    want = [tuple(re.sub(ctl, "\ufffd", j.get(k) or "") for k in
                  ("user", "template", "status", "error")) for j in jrows]
    got = [tuple(r.get(k, None) for k in ("user", "template", "status",
                                          "error")) for r in page.rows]
    check(got == want, "index.html rows are the manifest's, as text",
          repr([(g, w) for g, w in zip(got, want) if g != w][:2]
               or (len(got), len(want))))

    # Every profile as a device reads it.
    plists, broken = {}, []
    for f in sorted(files):
        r = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER",
                            "-in", os.path.join(rundir, f), "-CAfile", root,
                            "-purpose", "any"], capture_output=True)
        try:
            if r.returncode != 0:
                raise ValueError(r.stderr.decode(errors="replace")[:200])
            p = plistlib.loads(r.stdout)
            if p.get("PayloadType") != "Configuration":
                raise ValueError("PayloadType %r" % p.get("PayloadType"))
            plists[f] = p
        except Exception as e:  # noqa: BLE001 - any failure is reported
            broken.append((f, str(e)))
    check(not broken, "%d profiles verify and parse" % len(files),
          repr(broken[:2]))

    # Expectations.
    for ln, status, text in exp["row"]:
        hit = [j for j in jrows if j.get("line") == ln and
               j.get("status") == status and text in (j.get("error") or "")]
        check(hit, "line %d: %s%s" % (ln, status, " (%s)" % text if text
                                      else ""),
              repr([j for j in jrows if j.get("line") == ln][:2]))
    for ln, name in exp["file"]:
        hit = [j for j in jrows if j.get("line") == ln and
               j.get("file") == name]
        check(hit, "line %d: file %s" % (ln, name),
              repr([j.get("file") for j in jrows if j.get("line") == ln]))
    if exp["roundtrip"]:
        roundtrip(check, csv_path, jrows, plists)


def roundtrip(check, csv_path, jrows, plists):
    """Every CSV row: the key is the manifest's user, exactly; the
    profile's rfc822Name and Subject CN are the key and name cells."""
    with open(csv_path, encoding="utf-8-sig", newline="") as f:
        recs = list(csv.DictReader(f))
    wrong = []
    for rec in recs:
        key, name = rec["email"], rec["name"]
        rows = [j for j in jrows if j.get("user") == key]
        if len(rows) != 1 or rows[0].get("file") not in plists:
            wrong.append((key, "no single issued row"))
            continue
        p = plists[rows[0]["file"]]
        scep = [c for c in p["PayloadContent"] if c["PayloadType"] == SCEP]
        sc = scep[0]["PayloadContent"]
        cn = [pair[1] for rdn in sc["Subject"] for pair in rdn
              if pair[0] == "CN"]
        san = sc.get("SubjectAltName", {}).get("rfc822Name")
        if cn != [name] or san != key:
            wrong.append((key, "CN %r, rfc822Name %r" % (cn, san)))
    check(not wrong, "%d values round-trip exactly (manifest.json, "
          "profile)" % len(recs), repr(wrong[:3]))


if __name__ == "__main__":
    main()
    sys.exit(1 if results else 0)
