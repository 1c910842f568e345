"""Validates FHIR resources samenspel exported, one JSON file each, with the fhir.resources
models (R4B: the structure, cardinalities and datatypes of R4's resources, unknown elements
refused), and then the code bindings those models leave unchecked that FHIR R4 makes required
and the SDOH Clinical Care IG narrows for referral Tasks, and that every reference inside a
Bundle resolves. Prints each problem as `file: path: message`; exits 1 when there is any."""

import json
import sys

from fhir.resources.R4B import get_fhir_model_class

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


def main(paths):
    problems = 0
    for p in paths:
        with open(p, encoding="utf-8") as f:
            resource = json.load(f)
        kind = resource.get("resourceType", "")
        try:
            get_fhir_model_class(kind).model_validate(resource)
        except Exception as e:  # the models' own report, whole
            problems += 1
            print(f"{p}: {kind}: {e}")
        for at, why in bindings(resource, kind):
            problems += 1
            print(f"{p}: {at}: {why}")
    print(f"{len(paths)} resources checked, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
