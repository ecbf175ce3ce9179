"""docs/mapping.schema.json describes the mapping format of docs/translators.md.

The example of docs/translators.md and every mapping file under translators/ must
validate against the JSON Schema; mappings with the mistakes the translator refuses
(unknown option, from and const together, bad normalisation) must not. Needs the
jsonschema package (skipped without it: it is not in the project's venv by default).
"""
import json
import pathlib
import re

import pytest

jsonschema = pytest.importorskip("jsonschema")

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "mapping.schema.json").read_text())


def validator():
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


def doc_examples():
    text = (ROOT / "docs" / "translators.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    return [json.loads(b) for b in blocks if '"fields"' in b]


def repo_mappings():
    out = []
    for p in sorted((ROOT / "translators").rglob("*.json")):
        try:
            doc = json.loads(p.read_text())
        except ValueError:
            continue
        if isinstance(doc, dict) and "fields" in doc and "entity" in doc:
            out.append(pytest.param(doc, id=str(p.relative_to(ROOT))))
    return out


def test_schema_is_a_valid_json_schema():
    validator()


def test_docs_example_validates():
    examples = doc_examples()
    assert examples, "docs/translators.md lost its example"
    v = validator()
    for ex in examples:
        errors = [e.message for e in v.iter_errors(ex)]
        assert not errors, errors


@pytest.mark.parametrize("doc", repo_mappings())
def test_repo_mapping_validates(doc):
    errors = [e.message for e in validator().iter_errors(doc)]
    assert not errors, errors


BASE = {"source": {"topic": "hr"}, "entity": "person", "domain": "hr", "key": "email"}


@pytest.mark.parametrize(
    "fields",
    [
        {"email": {"form": "mail"}},
        {"email": {"from": "a", "const": "b"}},
        {"email": {"normalize": ["trim"]}},
        {"email": {"from": "a", "normalize": ["lowercase"]}},
        {"email": 12},
        {"address..city": "c"},
    ],
)
def test_mistakes_do_not_validate(fields):
    doc = dict(BASE, fields=fields)
    assert list(validator().iter_errors(doc)), fields


def test_minimal_mapping_validates():
    doc = dict(BASE, fields={"email": "work_email"}, delete={"path": "gone", "present": True})
    assert not list(validator().iter_errors(doc))
