"""The README's parameter reference is the schema's, word for word."""

from generator.build.docs import README, reference, updated_readme


def test_readme_parameter_reference_is_up_to_date():
    """On failure run `make docs` and commit README.md."""
    text = README.read_text()
    assert updated_readme(text) == text


def test_reference_documents_every_field_with_a_description():
    rows = [line for line in reference().splitlines() if line.startswith("| `")]
    assert rows
    undocumented = [row.split("|")[1].strip() for row in rows if not row.rstrip(" |").split("|")[-1].strip()]
    assert undocumented == []
