"""Validates HSDS 3.0 organization documents samenspel exported, one JSON file each, against
Open Referral's own compiled schema (`compiled/organization.json` of the folder given first),
with jsonschema (Draft 2020-12 rules, formats checked). Prints each problem as
`file: path: message`; exits 1 when there is any."""

import json
import os
import sys

from jsonschema import Draft202012Validator


def main(schemas, paths):
    with open(os.path.join(schemas, "compiled", "organization.json"), encoding="utf-8") as f:
        schema = json.load(f)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = 0
    for p in paths:
        with open(p, encoding="utf-8") as f:
            document = json.load(f)
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
            problems += 1
            at = "/".join(str(x) for x in error.absolute_path) or "(document)"
            print(f"{p}: {at}: {error.message[:300]}")
    print(f"{len(paths)} documents checked, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
