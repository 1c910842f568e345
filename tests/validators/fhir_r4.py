"""Validates FHIR resources samenspel exported, one JSON file each, three ways:

1. the fhir.resources models (R4B: the structure, cardinalities and datatypes of R4's resources,
   unknown elements refused);
2. the code bindings those models leave unchecked that FHIR R4 makes required and the SDOH
   Clinical Care IG narrows for referral Tasks, samenspel's urgency codes, and that every
   reference inside a Bundle resolves;
3. pyrofile-validator, a profile-aware validator that works offline: R4's structure, required
   bindings and invariants, and the profiles and extensions samenspel publishes in deploy/fhir
   (every Task is checked against the referral Task profile, and must claim it).

Prints each problem as `file: path: message`; exits 1 when there is any."""

import json
import pathlib
import re
import sys

from fhir.resources.R4B import get_fhir_model_class
from pyrofile_validator.config import ValidatorConfig
from pyrofile_validator.core import definitions as pyrofile_definitions
from pyrofile_validator.core.engine import Validator

# samenspel's published conformance resources: profiles, extensions, value sets, code systems.
PUBLISHED = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "fhir"
REFERRAL_TASK = "https://samenspel.nl/fhir/StructureDefinition/referral-task"
URGENCY = "https://samenspel.nl/fhir/StructureDefinition/urgency"


def codes_of(code_system):
    with open(PUBLISHED / code_system, encoding="utf-8") as f:
        return {c["code"] for c in json.load(f)["concept"]}


URGENCY_CODES = codes_of("CodeSystem-urgency.json")


def patterns_of_published():
    """(profile url, top-level element) -> the pattern a published profile sets on it."""
    patterns = {}
    for path in PUBLISHED.glob("StructureDefinition-*.json"):
        with open(path, encoding="utf-8") as f:
            sd = json.load(f)
        for e in sd.get("differential", {}).get("element", []):
            for key, value in e.items():
                if key.startswith("pattern") and e["path"].count(".") == 1:
                    patterns[(sd["url"], e["path"].split(".", 1)[1])] = value
    return patterns


PATTERNS = patterns_of_published()

# Required bindings of R4 (http://hl7.org/fhir/R4/valueset-*.html) and the IG's Task statuses.
REQUIRED = {
    ("Bundle", "type"): {"document", "message", "transaction", "transaction-response", "batch",
                         "batch-response", "history", "searchset", "collection"},
    ("ServiceRequest", "status"): {"draft", "active", "on-hold", "revoked", "completed",
                                   "entered-in-error", "unknown"},
    ("ServiceRequest", "intent"): {"proposal", "plan", "directive", "order", "original-order",
                                   "reflex-order", "filler-order", "instance-order", "option"},
    ("ServiceRequest", "priority"): {"routine", "urgent", "asap", "stat"},
    # SDOHCC Task For Referral Management: no `ready`, no `received`.
    ("Task", "status"): {"draft", "requested", "accepted", "rejected", "cancelled", "in-progress",
                         "on-hold", "failed", "completed", "entered-in-error"},
    ("Task", "intent"): {"order"},
    ("Consent", "status"): {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"},
    ("SubscriptionStatus", "status"): {"requested", "active", "error", "off", "entered-in-error"},
    ("SubscriptionStatus", "type"): {"handshake", "heartbeat", "event-notification", "query-status",
                                     "query-event"},
}


def references(value, path):
    """Every Reference.reference under value, with its path."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                yield path, v
            else:
                yield from references(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from references(v, f"{path}[{i}]")


def bindings(resource, path):
    kind = resource.get("resourceType")
    for (rtype, element), allowed in REQUIRED.items():
        if rtype == kind and element in resource and resource[element] not in allowed:
            yield f"{path}.{element}", f"{resource[element]!r} is not in the required value set"
    for i, ext in enumerate(resource.get("extension", [])):
        if ext.get("url") == URGENCY and ext.get("valueCode") not in URGENCY_CODES:
            yield f"{path}.extension[{i}].valueCode", f"{ext.get('valueCode')!r} is not a samenspel urgency"
    if kind == "Task":
        codes = [c.get("code") for c in resource.get("code", {}).get("coding", [])]
        if "fulfill" not in codes:
            yield f"{path}.code", "a referral Task's code is fulfill"
        if "focus" not in resource:
            yield f"{path}.focus", "a referral Task has the ServiceRequest as its focus"
    if kind == "Bundle":
        urls = {e.get("fullUrl") for e in resource.get("entry", [])}
        for e in resource.get("entry", []):
            r = e.get("resource", {})
            urls.add(f"{r.get('resourceType')}/{r.get('id')}")
        for i, e in enumerate(resource.get("entry", [])):
            inner = e.get("resource", {})
            yield from bindings(inner, f"{path}.entry[{i}].resource")
            if resource.get("type") == "collection":
                for at, ref in references(inner, f"{path}.entry[{i}].resource"):
                    if ref not in urls:
                        yield at, f"reference {ref!r} resolves to no entry of the Bundle"


def pyrofile_validator():
    config = ValidatorConfig.load_dict({
        "localPackagePaths": [str(PUBLISHED)],
        "profiles": {"Task": [REFERRAL_TASK]},
    })
    return Validator(config)


def holds(value, pattern):
    """Whether value matches a FHIR pattern: it has every value the pattern has, and may have
    more (more elements, more list items)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(holds(value.get(k), v) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(holds(item, p) for item in value) for p in pattern)
    return value == pattern


def the_resource(resource, kind, id):
    """The resource of that type and id: resource itself, or an entry of it as a Bundle."""
    for r in [resource, *(e.get("resource", {}) for e in resource.get("entry", []))]:
        if r.get("resourceType") == kind and r.get("id") == id:
            return r
    return None


def false_positive(issue, resource):
    """The three mistakes of pyrofile-validator 0.3.0 met on valid R4, each told by its cause
    rather than by the element, so a real problem of the same kind still counts: it takes
    fhir.resources' abbreviated enum lists (which end in "+", e.g. Task.status's "draft,
    requested, received, accepted, +") for whole value sets; it skips every child of a backbone
    element named like a resource's own fields (Patient.communication.language); and it compares
    a profile's pattern on a resource's own element as equal rather than as contained (a coding
    with a display fails a pattern of system and code). The first two elements are checked by
    the models above (structure) and by REQUIRED (Task.status); the pattern is checked here, as
    FHIR defines it."""
    if issue.code in ("profile.pattern", "profile.element.pattern") and issue.path and issue.profile:
        element = issue.path.split(".", 1)[1]
        pattern = PATTERNS.get((issue.profile, element))
        of = the_resource(resource, issue.resource_type, issue.resource_id)
        return pattern is not None and of is not None and holds(of.get(element), pattern)
    if issue.code == "terminology.required":
        bound = re.search(r"ValueSet (\S+)$", issue.message)
        return bool(bound) and "+" in pyrofile_definitions.VALUE_SETS.get(bound.group(1), ())
    if issue.code == "element.unknown" and issue.path:
        parts = re.sub(r"\[\d+\]", "", issue.path).split(".")
        return len(parts) > 2 and parts[-1] in pyrofile_definitions._COMMON_FIELDS
    return False


def main(paths):
    problems = 0
    profiled = pyrofile_validator()
    for p in paths:
        with open(p, encoding="utf-8") as f:
            resource = json.load(f)
        kind = resource.get("resourceType", "")
        structured = True
        try:
            get_fhir_model_class(kind).model_validate(resource)
        except Exception as e:  # the models' own report, whole
            structured = False
            problems += 1
            said = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
            print(f"{p}: {kind}: {said}")
        for at, why in bindings(resource, kind):
            problems += 1
            print(f"{p}: {at}: {why}")
        for issue in profiled.validate_resource(resource, p).errors:
            if structured and false_positive(issue, resource):
                continue
            problems += 1
            print(f"{p}: {issue.path}: {issue.message} (pyrofile {issue.code})")
    print(f"{len(paths)} resources checked, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
