#!/usr/bin/env python3
"""Make the corpus inputs that are big, binary or byte-exact.

    gen.py OUT NAME      write input NAME to the path OUT

Big inputs are generated at test time rather than committed; so are inputs
whose exact bytes matter (NUL, invalid UTF-8, CR, BOM, UTF-16), which an
editor or a checkout with autocrlf could change.  The .expect file of a
case names its generator with "gen NAME".
"""
import os
import plistlib
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "templates", "valid.plist")


def base():
    """The corpus's valid template (templates/valid.plist)."""
    with open(BASE, encoding="utf-8") as f:
        return f.read()


def csv(*rows, eol=b"\n"):
    return eol.join(rows) + eol


GOOD = b"ok@example.com,Good Row"

CSV = {
    # keys
    "key-10000": lambda: csv(b"email,name", b"k" * 10000 + b",Long Key", GOOD),
    "key-nul": lambda: csv(b"email,name", b"nul\x00@example.com,Nul", GOOD),
    "key-utf8": lambda: csv(b"email,name", b"bad\xff\xfe@example.com,Bad",
                            GOOD),
    "key-ctrl": lambda: csv(b"email,name", b"esc\x1b[31m@example.com,Esc",
                            GOOD),
    "dup-keys-many": lambda: csv(
        b"email,name",
        *[b"u%05d@example.com,U %d" % (i, i) for i in range(3000)],
        b"u00000@example.com,Again first", b"u02999@example.com,Again last",
        b"U01500@example.com,Other case"),
    # values
    "utf8-invalid": lambda: csv(
        b"email,name",
        b"a@example.com,\xc3\x28",              # bad continuation byte
        b"b@example.com,\xed\xa0\x80",          # UTF-16 surrogate
        b"c@example.com,\xc0\xaf",              # overlong "/"
        b"d@example.com,\xf4\x90\x80\x80",      # past U+10FFFF
        b"e@example.com,cut \xe2\x82",          # cut sequence
        GOOD),
    "control": lambda: csv(
        b"email,name",
        b"a@example.com,bell\x07",
        b"b@example.com,esc\x1b[2J",
        b"c@example.com,del\x7f",
        b"d@example.com,nel\xc2\x85",           # C1 control
        b"e@example.com,nonchar\xef\xbf\xbe",   # U+FFFE
        b"f@example.com,\"nul\x00inside\"",
        b"g@example.com,tab\tis fine",
        GOOD),
    "cut-utf8-message": lambda: csv(
        b"email,name,template",
        b"t@example.com,T," + "\u00e9".encode() * 1000,
        b"k@example.com,K,scep",
        b"a" + "\u00e9".encode() * 300 + b",First,scep",
        b"a" + "\u00e9".encode() * 300 + b",Second,scep"),
    "field-1mib": lambda: csv(b"email,name",
                              b"big@example.com," + b"A" * (1 << 20), GOOD),
    "field-64k": lambda: csv(b"email,name",
                             b"edge@example.com," + b"A" * 65536,
                             b"over@example.com," + b"A" * 65537),
    "record-5mib": lambda: csv(
        b"email,name",
        b'r@example.com,"' + b"\n".join([b"B" * 60000] * 90) + b'"', GOOD),
    # shape
    "columns-10000": lambda: csv(
        b"email," + b",".join(b"c%d" % i for i in range(9999)),
        b"x@example.com" + b",v" * 9999),
    "fields-10000": lambda: csv(
        b"email,name", b"wide@example.com" + b",v" * 9999, GOOD),
    "bom-crlf": lambda: b"\xef\xbb\xbf" + csv(
        b"email,name", b"bom@example.com,Bom User",
        b'crlf@example.com,"two\r\nlines"', eol=b"\r\n"),
    "line-ends": lambda: (b"email,name\r\n\r\n"
                          b'a@example.com,"x\ry"\r'
                          b"b@example.com,\x00\n\r"
                          b"c@example.com,\x01\n"),
    "utf16-le": lambda: "email,name\nu@example.com,U\n".encode("utf-16"),
    "utf16-be": lambda: "email,name\nu@example.com,U\n".encode("utf-16-be"),
    "empty": lambda: b"",
    "bom-only": lambda: b"\xef\xbb\xbf",
}

TEMPLATES = {
    "deep-array": lambda: ('<?xml version="1.0" encoding="UTF-8"?>\n'
                           '<plist version="1.0">' + "<array>" * 10000 +
                           "</array>" * 10000 + "</plist>\n"),
    "deep-dict": lambda: ('<?xml version="1.0" encoding="UTF-8"?>\n'
                          '<plist version="1.0">' +
                          "<dict><key>k</key>" * 10000 + "<true/>" +
                          "</dict>" * 10000 + "</plist>\n"),
    "huge": lambda: base().replace(
        "<key>PayloadDisplayName</key>",
        "<key>Padding</key><string>" + "A" * (1100 * 1024) +
        "</string><key>PayloadDisplayName</key>"),
    "payloads-1001": lambda: payloads(1001),
    "payloads-1000": lambda: payloads(1000),
    "binary": lambda: plistlib.dumps(plistlib.loads(base().encode()),
                                     fmt=plistlib.FMT_BINARY),
    "nul-byte": lambda: base().replace("Corpus profile",
                                       "Corpus\x00profile"),
    "utf8-invalid": lambda: base().encode().replace(
        b"Corpus profile", b"Corpus\xffprofile"),
    "utf16": lambda: base().replace('encoding="UTF-8"',
                                    'encoding="UTF-16"').encode("utf-16"),
    "empty": lambda: b"",
}


def payloads(n):
    """The valid template with n payloads in all (n - 1 small ones)."""
    s = base()
    i = s.index("<dict>", s.index("<array>"))
    extra = "".join(
        "<dict><key>PayloadType</key><string>com.example.extra</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>com.example.extra.%d</string>"
        "<key>PayloadUUID</key><string>{{uuid:x%d}}</string></dict>" % (k, k)
        for k in range(n - 1))
    return s[:i] + extra + s[i:]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen.py OUT NAME")
    out, name = sys.argv[1:]
    kind, _, base = name.partition("/")
    table = {"csv": CSV, "templates": TEMPLATES}.get(kind, {})
    if base == "directory":
        os.mkdir(out)
        return
    if base not in table:
        sys.exit("gen.py: no generator %s" % name)
    data = table[base]()
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
