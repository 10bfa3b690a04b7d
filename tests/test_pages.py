"""Page chains that end (torinvest.aws.pages): a token followed twice or too many pages stop a
chain as incomplete — in the runner's own page loop too (its reads of paged lists)."""

from __future__ import annotations

import pytest

from tests.bounded import bounded
from tests.fake_aws import FakeAws
from torinvest.actions import Action
from torinvest.aws import Aws, PageTrail, pages
from torinvest.errors import EndpointError
from torinvest.runner.calls import invoke


def test_a_trail_stops_at_the_first_token_followed_again_not_only_the_last() -> None:
    trail = PageTrail("guardduty", "ListFindings", region="eu-west-1")
    assert trail.follow("A") and trail.follow("B")
    with pytest.raises(EndpointError) as stopped:
        trail.follow("A")
    assert str(stopped.value).startswith(
        "ListFindings on guardduty in eu-west-1: the endpoint returned the same next token twice"
    )
    assert "stopped after 3 page(s), the results of this call are incomplete" in str(stopped.value)
    assert stopped.value.code == "EndlessPagination"


def test_a_trail_stops_at_its_cap_only_when_there_is_still_a_next_page() -> None:
    trail = PageTrail("s3", "ListObjectsV2", resource="s3://b/p", limit=3)
    assert trail.follow("1") and trail.follow("2")
    assert not trail.follow(None)  # the last page at the cap: the chain ended, whole
    capped = PageTrail("s3", "ListObjectsV2", resource="s3://b/p", limit=3)
    assert capped.follow("1") and capped.follow("2")
    with pytest.raises(EndpointError, match="still returned a next token after 3 pages"):
        capped.follow("3")
    assert pages.max_pages("ListObjectsV2") == pages.MAX_PAGES["ListObjectsV2"]
    assert pages.max_pages("SomethingElse") == pages.DEFAULT_MAX_PAGES


@pytest.mark.parametrize("period", [2, None], ids=["cycle-of-2", "fresh-for-ever"])
def test_the_runners_paged_read_that_never_ends_is_an_error_not_a_short_list(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch, period: int | None
) -> None:
    """The runner's own page loop (IAM Marker lists, ListDetectors, ListFilters) stopped a list
    at 100 pages and returned what it had as the whole answer, and never saw a token come
    back: now a cycle, or fresh tokens up to the cap, is an error naming the pages read."""
    monkeypatch.setitem(pages.MAX_PAGES, "ListDetectors", 5)
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.loop_tokens("guardduty", "us-east-1", period=period, operation="ListDetectors")
    read = Action("guardduty", "ListDetectors", {}, "which detectors", "us-east-1", False)
    with pytest.raises(EndpointError) as stopped:
        bounded(lambda: invoke(Aws(), read))
    calls = len(fake_aws.calls("ListDetectors", region="us-east-1"))
    assert calls == (5 if period is None else period + 1)
    assert str(stopped.value).startswith("ListDetectors on guardduty in us-east-1: the endpoint")
    assert f"stopped after {calls} page(s), the results of this call are incomplete" in str(
        stopped.value
    )
    fake_aws.clear_failures()
    assert len(bounded(lambda: invoke(Aws(), read))["DetectorIds"]) == 1
