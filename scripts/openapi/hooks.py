"""Schemathesis hooks for scripts/openapi-test.sh: keep the run on loopback,
and keep its own credential alive.

Adding a PDU (POST /api/pdus, PUT /api/pdus/{device_id}) starts polling its
`host` over SNMP, and discovery (POST /api/pdus/discover) scans `cidr`: a
generated value such as "1.2" would send SNMP to an address on the
internet. Where those fields are strings they are pointed at 127.0.0.1, so
the bridge's validation of everything else is still exercised; fields of
the wrong type are left as generated (they are refused before any network
I/O).

Schemathesis feeds ids it has seen in answers (GET /api/tokens, GET
/api/pdus) into later requests: DELETE /api/tokens/{id} with the run's own
token would revoke it and leave every later request a 401, and a PUT or
DELETE of the simulated PDU would leave every reading a 503. Those ids are
swapped for ones that name nothing (the operations are still tested: they
answer 404, and succeed on the tokens and PDUs the run adds itself).
"""

import os

import schemathesis

LOOPBACK = {
    ("POST", "/api/pdus"): ("host", "127.0.0.1"),
    ("PUT", "/api/pdus/{device_id}"): ("host", "127.0.0.1"),
    ("POST", "/api/pdus/discover"): ("cidr", "127.0.0.1/32"),
}

# What the run stands on, by the path parameter that names it: its own
# token (its public id, `pdub_<id>_<secret>`) and the simulated PDU every
# reading comes from.
KEEP = {
    ("DELETE", "/api/tokens/{id}"): ("id", os.environ.get("PDU_BRIDGE_OPENAPI_TOKEN_ID", "")),
    ("PUT", "/api/pdus/{device_id}"): ("device_id", os.environ.get("PDU_BRIDGE_OPENAPI_PDU", "")),
    ("DELETE", "/api/pdus/{device_id}"): ("device_id", os.environ.get("PDU_BRIDGE_OPENAPI_PDU", "")),
}


@schemathesis.hook
def before_call(context, case, kwargs):
    key = (case.method.upper(), case.operation.path)
    if key in KEEP:
        name, kept = KEEP[key]
        if kept and str((case.path_parameters or {}).get(name)) == kept:
            case.path_parameters[name] = "0" * len(kept)
    rule = LOOPBACK.get(key)
    if rule is None or not isinstance(case.body, dict):
        return
    field, value = rule
    if isinstance(case.body.get(field), str):
        case.body[field] = value
