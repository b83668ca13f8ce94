"""The report's captions (report/*.rst) are reStructuredText that Snakemake renders with
docutils: a stray |x| is a substitution reference and prints an error in the report."""
import io
from pathlib import Path

import pytest

docutils_core = pytest.importorskip("docutils.core")

CAPTIONS = sorted((Path(__file__).resolve().parent.parent / "report").glob("*.rst"))


def test_there_are_captions():
    assert len(CAPTIONS) >= 10


@pytest.mark.parametrize("caption", CAPTIONS, ids=lambda p: p.name)
def test_caption_renders_without_docutils_warnings(caption):
    warnings = io.StringIO()
    docutils_core.publish_string(caption.read_text(), writer="html",
                                 settings_overrides={"warning_stream": warnings, "report_level": 2})
    assert warnings.getvalue() == "", f"{caption.name}: {warnings.getvalue()}"
