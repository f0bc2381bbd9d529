"""What every tier's tests share: pytest rewrites the asserts of the shared
conformance suite (a helper module, not a test module, so not by default)."""

import pytest

pytest.register_assert_rewrite("tests.cloud_conformance")
