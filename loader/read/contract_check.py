"""A source's data contract, record by record: why a record breaks it, or None.

The schema is read and compiled once with the source's options
(loader/data_contract.py); here a record that passed the parser (a JSON
object with its id) is checked against it, and the first violation becomes
the reject's reason, naming the field and the rule:

    contract: field 'score' breaks maximum (must be smaller than or equal to 100)
    contract: field 'name' breaks required (the record lacks it)

An envelope's record is what is checked (Canvas Data 2 `value`, Debezium
`after`); a delete carries no record and is not checked.

The check takes the object the parser already built (the lean parser's, the
strict parser's exact reading of a line with an integer beyond 64 bits, or the
record another reader built): a line is parsed once. fastjsonschema is compiled
without `use_default`, so checking leaves the object (and so the hash and the
stored payload, made before it) as it was.
"""

from __future__ import annotations

from .envelopes import CONTENT_KEYS


def contract_check(validator, shape: str):
    """A function parsed line (the whole object, envelope and all) -> reject reason
    or None, for a compiled validator (None for a source without a contract:
    nothing to call)."""
    if validator is None:
        return None
    from fastjsonschema import JsonSchemaValueException

    content_key = CONTENT_KEYS.get(shape)

    def check(record) -> str | None:
        if content_key is not None:
            record = record.get(content_key)
            if not isinstance(record, dict):  # a delete: no record to check
                return None
        try:
            validator(record)
        except JsonSchemaValueException as exc:
            return reason(exc)
        return None

    return check


def reason(exc) -> str:
    """The reject reason for fastjsonschema's exception: field, rule, what it says."""
    path = [str(p) for p in (exc.path or [])][1:]  # path[0] is 'data'
    field = ".".join(path)
    if exc.rule == "required" and isinstance(exc.value, dict):
        missing = [k for k in (exc.rule_definition or []) if k not in exc.value]
        if missing:
            field = ".".join([*path, str(missing[0])])
            return f"contract: field {field!r} breaks required (the record lacks it)"
    what = exc.message.split(" ", 1)[1] if exc.message.startswith("data") else exc.message
    where = f"field {field!r}" if field else "the record"
    return f"contract: {where} breaks {exc.rule} ({what})"
