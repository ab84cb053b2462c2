"""Run the W3C feed validator over local feed files; exit 1 if any has an error (or, with
--strict, a warning). The validator is not on PyPI: point this at a checkout of
github.com/w3c/feedvalidator, run with an interpreter that has its requirements (lxml,
html5lib, rdflib), e.g.

    FEEDVALIDATOR="/path/venv/bin/python tests/w3c_feedvalidator.py --checkout /path/feedvalidator" make test
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import quote


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", required=True, help="a checkout of w3c/feedvalidator")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.add_argument("--base", action="append", default=[], help="each file's URL, in order")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    sys.path.insert(0, f"{args.checkout}/src")
    import feedvalidator
    from feedvalidator import compatibility
    from feedvalidator.formatter.text_plain import Formatter

    level = compatibility.AA if args.strict else compatibility.A
    failed = 0
    for i, name in enumerate(args.files):
        base = args.base[i] if i < len(args.base) else "https://example.com/feed"
        base = quote(base, safe=":/%#?=&~+@")  # the validator takes an ASCII URL (a CJK term's folder)
        with open(name, "rb") as stream:
            try:
                events = feedvalidator.validateStream(stream, firstOccurrenceOnly=1, base=base)["loggedEvents"]
            except feedvalidator.logging.ValidationFailure as failure:
                events = [failure.event]
            except Exception as exc:  # the validator's own bug: report this file, go on with the others
                failed += 1
                print(f"== {name}", f"the validator crashed: {exc!r}", sep="\n")
                continue
        messages = Formatter(level(events))
        if messages:
            failed += 1
            print(f"== {name}", *messages, sep="\n")
    print(f"{len(args.files)} files, {failed} with problems")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
