"""An endpoint that cannot be reached: one that every region shares (``AWS_ENDPOINT_URL``…) is
said at once and not tried again in the other regions; regions with endpoints of their own are
each tried; long work says where it is, also off a terminal (torinvest.progress).

The endpoints are local: a closed port (refused; each request botocore sends there is counted
where it is sent, with the service and region of its SigV4 scope) and a host name that does not
resolve (``getaddrinfo`` refused here, no DNS query is made). A connection closed or reset once
made is one request's failure, not the endpoint's (tests/findings/test_fetch.py: a region's
request dropped, the others searched).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.httpsession
import pytest

import tests.conftest
from tests.cli_run import run
from tests.fake_aws import FakeAws
from tests.tls import https_server
from torinvest import progress
from torinvest.aws import Aws, AwsConfig
from torinvest.aws.session import CONNECT_FAILURE_ATTEMPTS
from torinvest.errors import EXIT_COULD_NOT_LOOK

GD = Path(__file__).parent / "fixtures" / "guardduty"
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
#: Regions asked with --regions (the order they are searched in with --max-workers 1).
REGIONS = ["us-east-1", "eu-west-1", "eu-west-2", "ap-south-1", "sa-east-1"]
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
_SCOPE = re.compile(rb"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@pytest.fixture
def closed_port() -> Iterator[str]:
    """A loopback port that is bound but does not listen: every connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


class Refusing:
    """A closed loopback port named by ``variable`` (``AWS_ENDPOINT_URL``…): ``attempts``
    lists each request botocore sent there as (service, region)."""

    def __init__(self, url: str, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
        self.url = url
        self.attempts: list[tuple[str, str]] = []
        guarded = botocore.httpsession.URLLib3Session.send

        def counted(session: Any, request: Any) -> Any:
            if request.url.startswith(url):
                auth = str(request.headers.get("Authorization", "")).encode()
                found = _SCOPE.search(auth)
                self.attempts.append(
                    (found.group(2).decode(), found.group(1).decode()) if found else ("?", "?")
                )
            return guarded(session, request)

        monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", counted)
        monkeypatch.setenv(variable, url)


@pytest.fixture
def refusing(closed_port: str, monkeypatch: pytest.MonkeyPatch) -> Refusing:
    """A refusing endpoint named by AWS_ENDPOINT_URL; 3 attempts a call (the user's setting,
    honoured: each call is tried 3 times, not torinvest's 10)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    return Refusing(closed_port, monkeypatch, "AWS_ENDPOINT_URL")


def _said_once_and_why(err: str, url: str, origin: str = "AWS_ENDPOINT_URL") -> None:
    """The error names the endpoint, where it was set and what to do; the same problem is not
    listed region by region."""
    assert f"could not connect to {url} (from {origin}): " in err
    assert f"unset {origin} to reach AWS's own endpoints" in err
    assert err.count("could not connect to") <= 3, err  # a retry line, the error: no list


def test_findings_with_a_shared_endpoint_down_tries_one_call_only(
    refusing: Refusing,
) -> None:
    """Every region: EC2 DescribeRegions (home region) is the first call and the only one sent
    (its 3 attempts): GuardDuty would be asked at the same endpoint in every region. It took
    34 regions × every attempt (77 s) before."""
    code, out, err = run("findings")
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    assert refusing.attempts == [("ec2", "us-east-1")] * 3
    assert "torinvest: error: no region could be searched: could not connect to" in err
    assert "connection refused" in err
    _said_once_and_why(err, refusing.url)


def test_findings_in_regions_asked_stops_after_the_first_region(
    refusing: Refusing,
) -> None:
    """--regions (no DescribeRegions): the first region's ListDetectors is tried (3 attempts),
    the other four are not sent; they are said as not searched, the same way, exit 3."""
    code, out, err = run("findings", "--regions", ",".join(REGIONS), "--max-workers", "1")
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    assert refusing.attempts == [("guardduty", "us-east-1")] * 3
    assert "no region could be searched (5 of 5 failed): every one failed the same way: " in err
    assert "could not connect to" in err and "no other call was sent to it" in err
    _said_once_and_why(err, refusing.url)
    # said at once, before the answer: which call, which endpoint, why
    first = err.splitlines()[0]
    assert first.startswith("torinvest: guardduty ListDetectors in us-east-1: attempt 1 failed")
    assert refusing.url in first


@pytest.mark.parametrize("which", [[FINDING], ["--all-open"]], ids=["finding", "all-open"])
def test_investigate_with_a_shared_endpoint_down(
    which: list[str], refusing: Refusing, tmp_path: Path
) -> None:
    code, _, err = run("investigate", *which, "--out", str(tmp_path / "report"))
    assert code == EXIT_COULD_NOT_LOOK
    assert refusing.attempts == [("ec2", "us-east-1")] * 3
    assert "no region could be searched: could not connect to" in err
    assert "not found" not in err and "no findings" not in err.lower()
    _said_once_and_why(err, refusing.url)


def test_a_closed_port_is_named_with_the_service_variable_that_set_it(
    closed_port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_ENDPOINT_URL_GUARDDUTY: refused; named as that variable, the regions after the
    first not tried (the first region's failure is the answer for all)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_GUARDDUTY", closed_port)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    aws = Aws(AwsConfig(max_workers=1))
    sent: list[str] = []
    aws.session.events.register(
        "before-send.guardduty", lambda request, **_: sent.append(request.url)
    )
    code, _, err = run("findings", "--regions", ",".join(REGIONS), "--max-workers", "1")
    assert code == EXIT_COULD_NOT_LOOK
    assert f"could not connect to {closed_port} (from AWS_ENDPOINT_URL_GUARDDUTY): " in err
    assert "connection refused" in err
    _said_once_and_why(err, closed_port, "AWS_ENDPOINT_URL_GUARDDUTY")
    # the library's view: the first region's failure is the answer for the others, at once
    outcomes = aws.map_regions(lambda r: aws.client("guardduty", r).list_detectors(), REGIONS)
    assert [type(o).__name__ for _, o in outcomes] == ["EndpointConnectionError"] + [
        "EndpointDown"
    ] * (len(REGIONS) - 1)
    assert len(sent) == 3  # the first region's 3 attempts; none for the others


def test_a_host_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DNS failure is a connection failure too: said as such, tried in one call only."""
    host = "torinvest-endpoint.invalid"
    url = f"http://{host}:8080"
    resolved: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            resolved.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # the leak guard lets it through to the resolver, which refuses it; no proxy for it
    monkeypatch.setattr(tests.conftest, "LOOPBACK_HOSTS", tests.conftest.LOOPBACK_HOSTS | {host})
    monkeypatch.setenv("NO_PROXY", f"127.0.0.1,localhost,{host}")
    monkeypatch.setenv("no_proxy", f"127.0.0.1,localhost,{host}")
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    code, _, err = run("findings", "--regions", ",".join(REGIONS), "--max-workers", "1")
    assert code == EXIT_COULD_NOT_LOOK
    assert (
        f"could not connect to {url} (from AWS_ENDPOINT_URL): the host name does not resolve" in err
    )
    assert resolved == [host] * 3  # one call's attempts; no other region's
    _said_once_and_why(err, url)


def test_a_profile_endpoint_is_named_as_the_profile(
    refusing: Refusing, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    config = tmp_path / "config"
    config.write_text(
        "[profile lab]\nregion = us-east-1\naws_access_key_id = testing\n"
        f"aws_secret_access_key = testing\nendpoint_url = {refusing.url}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    code, _, err = run("findings", "--profile", "lab", "--regions", "us-east-1,eu-west-1")
    assert code == EXIT_COULD_NOT_LOOK
    assert f"could not connect to {refusing.url} (from the endpoint_url of profile 'lab')" in err
    assert "remove the endpoint_url of profile 'lab'" in err
    assert {r for _, r in refusing.attempts} <= {"us-east-1", "eu-west-1"}


def test_ignored_configured_endpoints_are_not_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: botocore resolves each region's own endpoint, so
    none is shared (a failure in one region says nothing of another)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert Aws().shared_endpoint("guardduty") is not None
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    aws = Aws()
    assert aws.client("guardduty", "eu-west-1").meta.endpoint_url.endswith(".amazonaws.com")
    assert aws.shared_endpoint("guardduty") is None


def test_without_an_override_an_unreachable_region_does_not_stop_the_others(
    fake_aws: FakeAws, closed_port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No endpoint configured: each region has its own (guardduty.<region>.amazonaws.com).
    Here eu-west-1's refuses connections and the others' are the fake (each request is sent to
    the loopback in place of AWS's host): eu-west-1 is said as not searched, the regions after
    it are searched."""
    for name in ("GUARDDUTY", "EC2", "CLOUDTRAIL", "ATHENA"):
        monkeypatch.delenv(f"AWS_ENDPOINT_URL_{name}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):  # every request goes to loopback
        monkeypatch.delenv(name)  # (the leak guard stays: any other host fails the test)
        monkeypatch.delenv(name.lower())
    finding = json.loads((GD / "shapes" / "single_raw.json").read_text())
    for region in ("us-east-1", "eu-west-2"):
        fake_aws.guardduty(region).add_detector()
    fake_aws.guardduty("eu-west-2").add_findings([finding])
    guarded = botocore.httpsession.URLLib3Session.send
    tried: list[str] = []

    def regional(self: Any, request: Any) -> Any:
        found = re.match(r"https://guardduty\.([a-z0-9-]+)\.amazonaws\.com(/.*)?$", request.url)
        assert found, request.url
        tried.append(found.group(1))
        base = closed_port if found.group(1) == "eu-west-1" else fake_aws.url
        request.url = base + (found.group(2) or "/")
        return guarded(self, request)

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", regional)
    regions = "us-east-1,eu-west-1,eu-west-2"
    code, out, err = run("findings", "--regions", regions, "--max-workers", "1", "--json")
    assert code == 0, err
    assert [r["id"] for r in json.loads(out)] == [finding["id"]]
    assert "guardduty:eu-west-1" in err
    assert f"could not connect to {closed_port} (the guardduty endpoint for eu-west-1)" in err
    assert "no later call was sent to it in this run (the other regions and" in err
    assert "every region uses this endpoint" not in err
    assert tried.count("eu-west-1") == 2  # its own attempts, then the next region
    assert "eu-west-2" in tried


def test_a_long_fan_out_says_where_it_is_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line every EVERY_SECONDS (made short here) on the command's stderr while regions are
    searched, with what answered and what could not connect; none when it ends sooner."""
    from botocore.exceptions import EndpointConnectionError

    monkeypatch.setattr(progress, "EVERY_SECONDS", 0.01)
    sink = io.StringIO()
    seen = threading.Event()
    waiting = "still searching GuardDuty regions: 1 of 3 regions answered, 1 could not connect"

    def one(region: str) -> str:
        if region == "b":
            raise EndpointConnectionError(endpoint_url="https://guardduty.b.amazonaws.com")
        if region == "c":  # the last region waits until its line was said
            for _ in range(3000):
                if waiting in sink.getvalue():
                    seen.set()
                    break
                seen.wait(0.01)
        return region

    aws = Aws(AwsConfig(max_workers=1))
    with progress.said_to(sink):
        outcomes = aws.map_regions(one, ["a", "b", "c"], progress="GuardDuty regions")
    assert [o for _, o in outcomes][::2] == ["a", "c"]
    assert seen.is_set(), sink.getvalue()
    assert f"torinvest: {waiting}; waiting for 1\n" in sink.getvalue()
    monkeypatch.setattr(progress, "EVERY_SECONDS", 3600.0)
    quiet = io.StringIO()
    with progress.said_to(quiet):
        aws.map_regions(lambda r: r, ["a", "b"], progress="GuardDuty regions")
    assert quiet.getvalue() == ""


def test_lookup_events_retries_then_stops_at_a_shared_endpoint(
    moto: str, closed_port: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LookupEvents retries calls itself (its client makes one attempt a call; backoff made
    short here): a connection refused is retried once (not MAX_RETRIES times: 9 attempts and
    their back-off before), then no other region is sent anything."""
    import torinvest.sources.lookup.fetch as lookup_fetch

    monkeypatch.setattr(lookup_fetch, "BACKOFF_BASE", 0.001)
    endpoint = Refusing(closed_port, monkeypatch, "AWS_ENDPOINT_URL_CLOUDTRAIL")  # STS: moto
    code, _, err = run(
        "events",
        "--lookup",
        "--access-key",
        "AKIATFQR7NSCUXC3DDDP",
        "--regions",
        ",".join(REGIONS),
        "--max-workers",
        "1",
        "--out",
        str(tmp_path / "events.csv"),
    )
    assert code == EXIT_COULD_NOT_LOOK, err
    assert endpoint.attempts == [("cloudtrail", "us-east-1")] * CONNECT_FAILURE_ATTEMPTS
    assert (
        f"could not connect to {closed_port} (from AWS_ENDPOINT_URL_CLOUDTRAIL): "
        "connection refused" in err
    )
    _said_once_and_why(err, closed_port, "AWS_ENDPOINT_URL_CLOUDTRAIL")


def test_a_call_waiting_for_its_answer_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoint that takes the connection and does not answer (one that drops packets is
    waited for 60 s a connection attempt): the call says, every EVERY_SECONDS (made short
    here), what it is waiting for. The endpoint answers (resets) once it was said."""
    from torinvest.errors import EndpointError

    monkeypatch.setattr(progress, "EVERY_SECONDS", 0.05)
    monkeypatch.setattr(progress, "WATCH_SLICE", 0.01)
    sink = io.StringIO()
    line = "torinvest: still waiting for sts GetCallerIdentity in us-east-1: no answer for "
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)

        def hold() -> None:
            conn, _ = sock.accept()
            with conn:
                for _ in range(3000):  # until the line was said (30 s at most)
                    if line in sink.getvalue():
                        break
                    threading.Event().wait(0.01)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{sock.getsockname()[1]}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        with progress.said_to(sink), pytest.raises(EndpointError):
            Aws().account_id()
        holder.join(5)
    assert line in sink.getvalue()
    # the call ended: it is not waited for any more (nothing more is said of it)
    assert threading.current_thread() not in progress._waits._calls


# --------------------------------------------------------------------------------------------
# a proxy that cannot be connected to (HTTPS_PROXY…): shared by every region it applies to
# --------------------------------------------------------------------------------------------
#: What the dead proxy's URL holds that must never be said.
PROXY_SECRET = "pr0xy-s3cret"


class DeadProxy:
    """A closed loopback port named by ``variable`` (``HTTPS_PROXY``…) as a proxy with a user
    and password; no endpoint is set, so clients have AWS's regional endpoints. A request
    botocore sends through this proxy is counted (service, region) and sent: it connects to the
    loopback proxy only, which refuses. Any other request goes to the autouse guard (loopback
    only), after ``direct`` may send it elsewhere (a host NO_PROXY exempts → the fake)."""

    def __init__(
        self, port_url: str, monkeypatch: pytest.MonkeyPatch, variable: str | None
    ) -> None:
        self.url = port_url.replace("http://", f"http://analyst:{PROXY_SECRET}@")
        self.shown = port_url.replace("http://", "http://***:***@")
        self.attempts: list[tuple[str, str]] = []
        self.direct: list[str] = []
        self.redirect: dict[str, str] = {}  # host exempted → loopback URL that serves it
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.delenv(name)
            monkeypatch.delenv(name.lower())
        for name in ("GUARDDUTY", "EC2", "CLOUDTRAIL", "ATHENA"):
            monkeypatch.delenv(f"AWS_ENDPOINT_URL_{name}", raising=False)
        if variable is not None:
            monkeypatch.setenv(variable, self.url)
        guarded = botocore.httpsession.URLLib3Session.send

        def send(session: Any, request: Any) -> Any:
            proxy = session._proxy_config.proxy_url_for(request.url)
            if proxy is not None:
                assert proxy == self.url, (request.url, proxy)  # the loopback proxy only
                auth = str(request.headers.get("Authorization", "")).encode()
                found = _SCOPE.search(auth)
                self.attempts.append(
                    (found.group(2).decode(), found.group(1).decode()) if found else ("?", "?")
                )
                return tests.conftest.UNGUARDED_SEND(session, request)
            host = re.match(r"https://([^/]+)(/.*)?$", request.url)
            if host and host.group(1) in self.redirect:
                self.direct.append(host.group(1))
                request.url = self.redirect[host.group(1)] + (host.group(2) or "/")
            return guarded(session, request)

        monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", send)


@pytest.fixture
def dead_proxy(closed_port: str, monkeypatch: pytest.MonkeyPatch) -> DeadProxy:
    """HTTPS_PROXY at a closed loopback port (with a user and password); 3 attempts a call."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    return DeadProxy(closed_port, monkeypatch, "HTTPS_PROXY")


def _proxy_said_once_and_why(err: str, proxy: DeadProxy, origin: str = "HTTPS_PROXY") -> None:
    """The error names the proxy (its password never said), where it was set and what to do;
    the same problem is not listed region by region."""
    assert PROXY_SECRET not in err and "analyst" not in err
    assert (
        f"could not connect to the proxy {proxy.shown} (from {origin}): connection refused" in err
    )
    assert f"unset {origin} (or add the endpoints' hosts to NO_PROXY)" in err
    assert err.count("could not connect to") <= 3, err  # a retry line, the error: no list


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
def test_findings_through_a_dead_proxy_tries_one_call_only(
    variable: str, closed_port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every region: EC2 DescribeRegions is the first call, through the proxy; its attempts are
    the only ones (every region's GuardDuty would go through the same proxy). Each region spent
    its own attempts on it before (34 regions × 10 attempts, with their backoff)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    proxy = DeadProxy(closed_port, monkeypatch, variable)
    code, out, err = run("findings")
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    assert proxy.attempts == [("ec2", "us-east-1")] * 3
    assert "torinvest: error: no region could be searched: could not connect to the proxy" in err
    _proxy_said_once_and_why(err, proxy, variable)
    first = err.splitlines()[0]  # said at once: which call, which proxy, why
    assert first.startswith("torinvest: ec2 DescribeRegions in us-east-1: attempt 1 failed")
    assert proxy.shown in first


def test_findings_in_regions_asked_through_a_dead_proxy(dead_proxy: DeadProxy) -> None:
    """--regions: the first region's ListDetectors is tried (3 attempts), the other four are
    not sent; all are said as not searched, the same way, exit 3."""
    code, out, err = run("findings", "--regions", ",".join(REGIONS), "--max-workers", "1")
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    assert dead_proxy.attempts == [("guardduty", "us-east-1")] * 3
    assert "no region could be searched (5 of 5 failed): every one failed the same way: " in err
    assert "no other call was sent through it" in err
    _proxy_said_once_and_why(err, dead_proxy)


def test_a_host_no_proxy_exempts_is_still_searched(
    dead_proxy: DeadProxy, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY names eu-west-2's GuardDuty host: botocore connects to it directly, so the dead
    proxy is no answer for it. us-east-1 is tried through the proxy (its attempts), eu-west-1
    is not sent (the same proxy), eu-west-2 is searched (here: the fake) and its finding kept."""
    for name in ("GUARDDUTY", "EC2", "CLOUDTRAIL", "ATHENA"):  # set by the fake_aws fixture
        monkeypatch.delenv(f"AWS_ENDPOINT_URL_{name}")
    exempt = "guardduty.eu-west-2.amazonaws.com"
    monkeypatch.setenv("NO_PROXY", f"127.0.0.1,localhost,{exempt}")
    monkeypatch.setenv("no_proxy", f"127.0.0.1,localhost,{exempt}")
    dead_proxy.redirect[exempt] = fake_aws.url
    finding = json.loads((GD / "shapes" / "single_raw.json").read_text())
    fake_aws.guardduty("eu-west-2").add_detector()
    fake_aws.guardduty("eu-west-2").add_findings([finding])
    regions = "us-east-1,eu-west-1,eu-west-2"
    code, out, err = run("findings", "--regions", regions, "--max-workers", "1", "--json")
    assert code == 0, err
    assert [r["id"] for r in json.loads(out)] == [finding["id"]]
    assert dead_proxy.attempts == [("guardduty", "us-east-1")] * 3
    assert set(dead_proxy.direct) == {exempt}
    assert f"could not connect to the proxy {dead_proxy.shown} (from HTTPS_PROXY)" in err
    assert "2 sources could not connect to the proxy" in err and "e.g. us-east-1, eu-west-1" in err
    assert "2 region(s) could not be searched" in err and PROXY_SECRET not in err


def test_a_dead_proxy_exempting_some_regions_leaves_them_to_search(
    dead_proxy: DeadProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeRegions could not go through the proxy, but NO_PROXY exempts a GuardDuty host:
    not "no region could be searched" — the partition's regions are listed, with a note."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,guardduty.eu-west-2.amazonaws.com")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost,guardduty.eu-west-2.amazonaws.com")
    aws = Aws(AwsConfig(max_workers=1))
    listed = aws.regions("guardduty")
    assert listed.source == "partition" and "eu-west-2" in listed
    assert f"could not connect to the proxy {dead_proxy.shown}" in str(listed.note)
    assert dead_proxy.attempts == [("ec2", "us-east-1")] * 3
    assert aws.proxy("guardduty", "eu-west-2") is None
    assert aws.proxy("guardduty", "eu-west-1") is not None


def test_a_proxy_of_the_client_config_is_shared_too(
    closed_port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A botocore Config(proxies=…) (the library's callers): the first region's failure is the
    answer for the others, at once; said as that Config's proxy."""
    from botocore.config import Config

    from torinvest.aws import translate_error

    proxy = DeadProxy(closed_port, monkeypatch, None)
    config = Config(proxies={"https": proxy.url}, retries={"total_max_attempts": 2})
    aws = Aws(AwsConfig(max_workers=1))
    outcomes = aws.map_regions(
        lambda r: aws.client("guardduty", r, config=config).list_detectors(), REGIONS
    )
    names = [type(o).__name__ for _, o in outcomes]
    assert names == ["ProxyConnectionError"] + ["EndpointDown"] * (len(REGIONS) - 1)
    assert proxy.attempts == [("guardduty", REGIONS[0])] * 2  # its 2 attempts; no other
    said = str(translate_error(outcomes[-1][1], service="guardduty", region=REGIONS[-1]))
    assert said.startswith(
        f"could not connect to the proxy {proxy.shown} (from the proxies of the client's "
        "botocore Config): connection refused"
    )
    assert PROXY_SECRET not in said


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pass@proxy:3128", "http://***:***@proxy:3128"),
        ("http://http:http@proxy:3128", "http://***:***@proxy:3128"),  # botocore: ***://http:***@
        ("http://t0ken@proxy:3128/", "http://***:***@proxy:3128/"),
        ("http://a%40b:p%3Aw@10.0.0.1:8080", "http://***:***@10.0.0.1:8080"),
        ("http://proxy:3128", "http://proxy:3128"),
    ],
)
def test_a_proxy_url_is_said_without_its_credentials(url: str, shown: str) -> None:
    from torinvest.aws.reach import redact_url

    assert redact_url(url) == shown


def test_a_proxy_that_cannot_be_connected_to_without_a_shared_record_is_named_redacted(
    closed_port: str,
) -> None:
    """One call, no record (a client making one attempt whose caller gave up): the error
    names the proxy, its password redacted — botocore's own mask leaves a user name that is
    also in the scheme (``http``)."""
    from botocore.exceptions import ProxyConnectionError

    from torinvest.aws import translate_error

    error = ProxyConnectionError(
        proxy_url=closed_port.replace("http://", "http://http:s3cret@"), error="refused"
    )
    said = translate_error(error, service="guardduty", region="eu-west-1")
    assert "s3cret" not in str(said) and "http:s3cret" not in str(said)
    assert str(said).startswith("could not connect to the proxy http://***:***@127.0.0.1:")


# --------------------------------------------------------------------------------------------
# a shared endpoint that stops mid-run: the regions that answered before it stopped
# --------------------------------------------------------------------------------------------
class Relay:
    """A loopback TCP relay in front of ``upstream`` (the fake) that can be stopped: its port
    closed and every connection through it cut — a local endpoint stopped mid-run (the fake's
    own server, shut down, still answers the connections botocore keeps open)."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (str(parts.hostname), int(parts.port or 80))
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # stopped
                return
            up = socket.create_connection(self._upstream)
            with self._lock:
                self._open += [conn, up]
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            b.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        for sock in [self._listener, *self._open]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def relay(fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Relay]:
    """The fake behind a relay that the test stops: GuardDuty, CloudTrail, EC2 and Athena share
    its URL (one endpoint recorded down for all of them); 2 attempts a call."""
    relay = Relay(fake_aws.url)
    for name in ("GUARDDUTY", "CLOUDTRAIL", "EC2", "ATHENA"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{name}", relay.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    yield relay
    relay.stop()


def test_regions_that_answered_before_the_endpoint_stopped_say_so(
    relay: Relay, fake_aws: FakeAws
) -> None:
    """One run (one Aws): GuardDuty answers in two regions, then its endpoint stops. Asked
    again, those two say they answered earlier and only this later call could not be made; a
    region asked for the first time after the stop says the endpoint is down, nothing more."""
    from torinvest.findings import fetch_findings

    finding = json.loads((GD / "shapes" / "single_raw.json").read_text())
    for region in ("us-east-1", "eu-west-1", "eu-west-2"):
        fake_aws.guardduty(region).add_detector()
    fake_aws.guardduty("us-east-1").add_findings([finding])
    aws = Aws(AwsConfig(max_workers=1))
    first = fetch_findings(aws, ["us-east-1", "eu-west-1"])
    assert first.answered == ["guardduty:us-east-1", "guardduty:eu-west-1"]
    assert [f.id for f in first.findings] == [finding["id"]]
    relay.stop()
    later = fetch_findings(aws, ["us-east-1", "eu-west-1", "eu-west-2"])
    assert later.answered == [] and len(later.failed) == 3
    said = {i.source: i.problem for i in later.unsearched}
    for region in ("us-east-1", "eu-west-1"):
        assert (
            f"could not connect to {relay.url} (from AWS_ENDPOINT_URL_GUARDDUTY)"
            in (said[f"guardduty:{region}"])
        )
        assert (
            "it answered earlier in this run, this later call could not be made"
            in (said[f"guardduty:{region}"])
        )
    assert "answered earlier" not in said["guardduty:eu-west-2"]  # it never did
    assert f"could not connect to {relay.url}" in said["guardduty:eu-west-2"]
    # what the first search found stands: the later failure is the later search's
    assert first.answered == ["guardduty:us-east-1", "guardduty:eu-west-1"]


def test_an_investigation_whose_endpoint_stops_after_the_findings_search(
    relay: Relay, fake_aws: FakeAws, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The findings are fetched from GuardDuty in two regions (both answer; the finding is in
    us-east-1), the key's calls looked up, then the endpoint stops: the related-findings search
    cannot ask those regions again. The report's data issues (its card; summary.json) say the
    related-findings search could not ask them — never ``guardduty:us-east-1`` as a region the
    findings search could not search (it found the finding there)."""
    from tests.cli.test_investigate import recent_finding
    from torinvest import campaign, investigation
    from torinvest.display.activity import all_issues
    from torinvest.errors import group_issues
    from torinvest.findings.related import COULD_NOT_LOOK as RELATED_COULD_NOT_LOOK
    from torinvest.parameters import Sources

    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "123837392027")  # STS (moto) is not behind the relay
    fake_aws.set_lookup_rate(None)
    raw = recent_finding(fake_aws)
    fake_aws.guardduty("eu-west-1").add_detector()
    aws = Aws(AwsConfig(max_workers=1))
    src = Sources(aws=aws, regions=["us-east-1", "eu-west-1"])
    found = investigation.load_findings(src)
    assert found.answered == ["guardduty:us-east-1", "guardduty:eu-west-1"]
    inv = investigation.investigate(raw["id"], src, findings=found)
    relay.stop()
    inv = campaign.look_around(inv, found)
    assert inv.related is not None and inv.related.status == RELATED_COULD_NOT_LOOK
    for issues in (all_issues(inv, found), group_issues(inv.data_issues)):
        sources = [i.source for i in issues]
        assert not [s for s in sources if s.startswith("guardduty:")], issues
        (related,) = [i for i in issues if i.source.startswith("related findings: guardduty:")]
        assert related.problem.startswith(f"2 sources could not connect to {relay.url} ")
        assert "it answered earlier in this run, this later call could not be made" in (
            related.problem
        )


def test_a_finding_not_found_whose_type_could_not_be_checked_says_so(
    relay: Relay, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`investigate ID`: the Tor findings search answers in both regions and the ID is not
    among them; the endpoint stops before GuardDuty is asked whether the ID is a finding of
    another type. Not found stands (exit 4: every region answered the search), and the message
    says that the type could not be checked, where and why — it said "not found" alone."""
    import torinvest.findings.fetch as fetch
    from torinvest.errors import EXIT_NOT_FOUND

    for region in ("us-east-1", "eu-west-1"):
        fake_aws.guardduty(region).add_detector()
    fake_aws.guardduty("us-east-1").add_findings(
        [json.loads((GD / "shapes" / "single_raw.json").read_text())]
    )
    real = fetch.finding_types

    def stopped_first(*args: Any, **kwargs: Any) -> dict[str, str]:
        relay.stop()  # between the search and the check of other types
        return real(*args, **kwargs)

    monkeypatch.setattr(fetch, "finding_types", stopped_first)
    other = "0" * 32
    code, _, err = run(
        "investigate", other, "--regions", "us-east-1,eu-west-1",
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == EXIT_NOT_FOUND, err
    assert f"finding {other} not found among 1 findings" in err
    assert (
        "whether it is a finding of another type could not be checked in us-east-1, eu-west-1: "
        f"could not connect to {relay.url} (from AWS_ENDPOINT_URL_GUARDDUTY): connection "
        "refused — it answered earlier in this run, this later call could not be made" in err
    )
    assert not (tmp_path / "o").exists()


def test_lookup_events_through_a_dead_proxy_stops_after_the_first_region(
    moto: str, closed_port: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LookupEvents retries calls itself (one attempt a call, backoff made short here): the
    first region's call and its one retry go through the proxy, then no other region's call is
    sent; STS
    (moto, on the loopback NO_PROXY exempts) answers directly."""
    import torinvest.sources.lookup.fetch as lookup_fetch

    monkeypatch.setattr(lookup_fetch, "BACKOFF_BASE", 0.001)
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # CloudTrail at AWS's regional endpoints
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto)
    proxy = DeadProxy(closed_port, monkeypatch, "HTTPS_PROXY")
    code, _, err = run(
        "events", "--lookup", "--access-key", "AKIATFQR7NSCUXC3DDDP",
        "--regions", ",".join(REGIONS), "--max-workers", "1",
        "--out", str(tmp_path / "events.csv"),
    )  # fmt: skip
    assert code == EXIT_COULD_NOT_LOOK, err
    assert proxy.attempts == [("cloudtrail", "us-east-1")] * CONNECT_FAILURE_ATTEMPTS
    _proxy_said_once_and_why(err, proxy)


# --------------------------------------------------------------------------------------------
# an endpoint that drops packets: no answer to the connection (a connect timeout)
# --------------------------------------------------------------------------------------------
@pytest.fixture
def dropping(monkeypatch: pytest.MonkeyPatch) -> Iterator[Refusing]:
    """A loopback listener that never accepts, its one-connection backlog full: the kernel
    answers no further connection (as a firewall that drops packets), so each one times out.
    Named by AWS_ENDPOINT_URL; no retries configured (torinvest's own); a connect timeout of
    0.2 s (TORINVEST_CONNECT_TIMEOUT) and no backoff between attempts."""
    import botocore.retries.standard

    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    monkeypatch.setenv("TORINVEST_CONNECT_TIMEOUT", "0.2")
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0
    )
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held,
    ):
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        held.connect(sock.getsockname())  # fills the backlog: later connections get no answer
        yield Refusing(f"http://127.0.0.1:{sock.getsockname()[1]}", monkeypatch, "AWS_ENDPOINT_URL")


def test_findings_at_an_endpoint_that_drops_packets(dropping: Refusing) -> None:
    """The call is tried twice (a connect timeout is retried once, not 10 times at botocore's
    60 s each: 10 minutes before), then the endpoint is said as not reached, not "no findings"."""
    code, out, err = run("findings")
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    assert dropping.attempts == [("ec2", "us-east-1")] * 2
    assert "no region could be searched: could not connect to" in err
    assert "no answer to the connection (connect timeout)" in err
    assert "no findings" not in err.lower()
    _said_once_and_why(err, dropping.url)


def test_investigate_at_an_endpoint_that_drops_packets(dropping: Refusing, tmp_path: Path) -> None:
    code, _, err = run("investigate", FINDING, "--out", str(tmp_path / "report"))
    assert code == EXIT_COULD_NOT_LOOK
    assert dropping.attempts == [("ec2", "us-east-1")] * 2
    assert "no answer to the connection (connect timeout)" in err
    assert "not found" not in err and "no findings" not in err.lower()
    _said_once_and_why(err, dropping.url)


def test_the_users_retries_are_honoured_at_a_dropping_endpoint(
    dropping: Refusing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    code, _, err = run("findings")
    assert code == EXIT_COULD_NOT_LOOK
    assert dropping.attempts == [("ec2", "us-east-1")] * 3
    assert "no answer to the connection (connect timeout)" in err


def test_connect_timeout_option_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """torinvest's 10 s when nothing is set (botocore's is 60 s); TORINVEST_CONNECT_TIMEOUT;
    AwsConfig's (--connect-timeout) first; a variable that is no number is said by name."""
    from torinvest.aws.session import DEFAULT_CONNECT_TIMEOUT
    from torinvest.errors import InputError

    monkeypatch.delenv("TORINVEST_CONNECT_TIMEOUT", raising=False)
    assert DEFAULT_CONNECT_TIMEOUT == 10
    assert Aws().client("sts").meta.config.connect_timeout == 10
    monkeypatch.setenv("TORINVEST_CONNECT_TIMEOUT", "2.5")
    assert Aws().client("sts").meta.config.connect_timeout == 2.5
    assert Aws(AwsConfig(connect_timeout=4)).client("sts").meta.config.connect_timeout == 4
    for bad in ("ten", "0", "nan", "inf", "601"):
        monkeypatch.setenv("TORINVEST_CONNECT_TIMEOUT", bad)
        with pytest.raises(InputError, match="TORINVEST_CONNECT_TIMEOUT: not a number of seconds"):
            Aws().client("sts")


def test_connect_timeout_option_sets_the_run(
    dropping: Refusing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--connect-timeout sets TORINVEST_CONNECT_TIMEOUT for the run (its kernels inherit it;
    the variable's 100 s would not end within the test), and back as it was after it; a value
    out of range is a usage error naming the option."""
    monkeypatch.setenv("TORINVEST_CONNECT_TIMEOUT", "100")
    code, _, err = run("findings", "--connect-timeout", "0.3")
    assert code == EXIT_COULD_NOT_LOOK
    assert "no answer to the connection (connect timeout)" in err
    assert os.environ["TORINVEST_CONNECT_TIMEOUT"] == "100"
    with pytest.raises(SystemExit) as exited:
        run("findings", "--connect-timeout", "0")
    assert exited.value.code == 2


def test_lookup_events_at_an_endpoint_that_drops_packets(
    moto: str, dropping: Refusing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LookupEvents retries calls itself (MAX_RETRIES, 8): a connection not answered is retried
    once, then the endpoint is the answer for every region; the events are "could not look",
    never "no events"."""
    import torinvest.sources.lookup.fetch as lookup_fetch

    monkeypatch.setattr(lookup_fetch, "BACKOFF_BASE", 0.001)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)  # the dropping endpoint for CloudTrail only
    endpoint = Refusing(dropping.url, monkeypatch, "AWS_ENDPOINT_URL_CLOUDTRAIL")  # STS: moto
    code, out, err = run(
        "events",
        "--lookup",
        "--access-key",
        "AKIATFQR7NSCUXC3DDDP",
        "--regions",
        ",".join(REGIONS),
        "--max-workers",
        "1",
        "--out",
        str(tmp_path / "events.csv"),
    )
    assert code == EXIT_COULD_NOT_LOOK, err
    assert endpoint.attempts == [("cloudtrail", "us-east-1")] * 2
    assert "no answer to the connection (connect timeout)" in err
    assert "no events" not in (out + err).lower()
    _said_once_and_why(err, dropping.url, "AWS_ENDPOINT_URL_CLOUDTRAIL")


@pytest.mark.parametrize(
    ("source", "first"),
    [
        (["--logs", "s3://bucket/AWSLogs/"], ("s3", "us-east-1")),
        (
            [
                "--engine",
                "athena",
                "--athena-database",
                "db",
                "--athena-table",
                "trail",
                "--start",
                "2026-01-01",
                "--end",
                "2026-01-02",
            ],
            ("athena", "us-east-1"),
        ),
    ],
    ids=["s3-logs", "athena"],
)
def test_events_read_at_an_endpoint_that_drops_packets(
    dropping: Refusing, source: list[str], first: tuple[str, str], tmp_path: Path
) -> None:
    """The trail's S3 log files and Athena: the first call tried twice, then "could not look"
    naming the endpoint, never an empty result."""
    out_csv = tmp_path / "events.csv"
    code, out, err = run(
        "events", "--access-key", "AKIATFQR7NSCUXC3DDDP", *source, "--out", str(out_csv)
    )
    assert code == EXIT_COULD_NOT_LOOK, err
    assert dropping.attempts == [first] * 2
    assert "no answer to the connection (connect timeout)" in err
    assert "no events" not in (out + err).lower() and not out_csv.exists()
    _said_once_and_why(err, dropping.url)


# --------------------------------------------------------------------------------------------
# a connection that could not be made is retried once when the user configured no retries
# (a port nothing listens on, a host name that does not resolve, a dead proxy: nearly always a
# wrong setting, not a passing fault); a TLS certificate not trusted is not retried at all
# --------------------------------------------------------------------------------------------
@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    """No retries configured: torinvest's own (standard mode, 10 attempts)."""
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)


@pytest.mark.usefixtures("unconfigured")
@pytest.mark.parametrize(
    "argv",
    [
        ["findings"],
        ["findings", "--regions", ",".join(REGIONS), "--max-workers", "1"],
        ["investigate", FINDING],
    ],
    ids=["findings", "findings-regions", "investigate"],
)
def test_a_refused_endpoint_is_retried_once(
    argv: list[str], closed_port: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A port nothing listens on, no retries configured: the first call is tried twice (it was
    tried 10 times with back-off: 8 to 17 s), then the endpoint is the answer for all."""
    refusing = Refusing(closed_port, monkeypatch, "AWS_ENDPOINT_URL")
    extra = ["--out", str(tmp_path / "report")] if argv[0] == "investigate" else []
    code, out, err = run(*argv, *extra)
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    assert len(refusing.attempts) == CONNECT_FAILURE_ATTEMPTS == 2
    assert len(set(refusing.attempts)) == 1  # one call's two attempts, no other call
    assert "connection refused" in err and "Traceback" not in err
    _said_once_and_why(err, refusing.url)


@pytest.mark.usefixtures("unconfigured")
def test_a_host_name_that_does_not_resolve_is_retried_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = "torinvest-endpoint.invalid"
    url = f"http://{host}:8080"
    resolved: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            resolved.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(tests.conftest, "LOOPBACK_HOSTS", tests.conftest.LOOPBACK_HOSTS | {host})
    monkeypatch.setenv("NO_PROXY", f"127.0.0.1,localhost,{host}")
    monkeypatch.setenv("no_proxy", f"127.0.0.1,localhost,{host}")
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    code, _, err = run("findings")
    assert code == EXIT_COULD_NOT_LOOK
    assert resolved == [host] * CONNECT_FAILURE_ATTEMPTS
    assert "the host name does not resolve" in err
    _said_once_and_why(err, url)


@pytest.mark.usefixtures("unconfigured")
@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
def test_a_refused_proxy_is_retried_once_and_named_by_its_variable(
    variable: str, closed_port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = DeadProxy(closed_port, monkeypatch, variable)
    code, out, err = run("findings", "--regions", ",".join(REGIONS), "--max-workers", "1")
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    assert proxy.attempts == [("guardduty", "us-east-1")] * CONNECT_FAILURE_ATTEMPTS
    _proxy_said_once_and_why(err, proxy, variable)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS endpoint on the loopback with a self-signed certificate (for 127.0.0.1): its URL
    and the certificate's PEM file. A request that gets through TLS is answered 500."""
    import http.server

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    with https_server(tmp_path_factory.mktemp("tls"), "torinvest test endpoint", Answer) as served:
        yield served


@pytest.mark.parametrize("retries", [None, "5"], ids=["unconfigured", "AWS_MAX_ATTEMPTS=5"])
@pytest.mark.parametrize(
    "argv",
    [
        ["findings"],
        ["investigate", FINDING],
        ["events", "--lookup", "--access-key", "AKIATFQR7NSCUXC3DDDP", "--regions", "us-east-1"],
    ],
    ids=["findings", "investigate", "events-lookup"],
)
def test_a_certificate_not_trusted_is_one_line_naming_the_ca_bundle(
    argv: list[str],
    retries: str | None,
    self_signed: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A self-signed certificate (or a TLS-inspecting proxy's CA the bundle lacks): one
    attempt, whatever retries are set (the same certificate would be refused again: 10
    attempts and 20 s before), and one line naming the endpoint, that its certificate was not
    trusted, and AWS_CA_BUNDLE / the profile's ca_bundle; exit 3, no traceback."""
    url, _ = self_signed
    if retries is not None:
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", retries)
    endpoint = Refusing(url, monkeypatch, "AWS_ENDPOINT_URL")
    out_file = {"events": "events.csv", "investigate": "report"}.get(argv[0])
    extra = ["--out", str(tmp_path / out_file)] if out_file else []
    code, out, err = run(*argv, *extra)
    assert code == EXIT_COULD_NOT_LOOK, err
    assert out == "" and "Traceback" not in err
    assert len(endpoint.attempts) == 1, endpoint.attempts
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("torinvest: error: ")
    assert f"could not connect to {url} (from AWS_ENDPOINT_URL): " in line
    assert "its TLS certificate was not trusted (self-signed certificate)" in line
    assert "set AWS_CA_BUNDLE, or ca_bundle in the AWS profile, to a PEM file" in line
    assert "not found" not in line and "no events" not in line.lower()


def test_the_ca_bundle_named_is_the_fix(
    self_signed: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundle in use is said when the certificate is refused; AWS_CA_BUNDLE holding the
    endpoint's certificate, as the line says to do: TLS passes (the endpoint's 500 answers)."""
    import certifi
    from botocore.exceptions import ClientError

    url, cert = self_signed
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_CA_BUNDLE", certifi.where())
    code, _, err = run("findings")
    assert code == EXIT_COULD_NOT_LOOK
    assert f"(AWS_CA_BUNDLE is now {certifi.where()})" in err
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
    with pytest.raises(ClientError) as answered:
        Aws().client("sts").get_caller_identity()
    assert answered.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


@pytest.mark.parametrize(
    ("setting", "argv", "named"),
    [
        ({"AWS_CA_BUNDLE": "{bundle}"}, [], "AWS_CA_BUNDLE"),
        ({"config": "[default]\nca_bundle = {bundle}\n"}, [], "ca_bundle of profile 'default'"),
        (
            {  # a profile named by --profile: its own keys (the environment's are not read)
                "config": "[profile ir]\nca_bundle = {bundle}\naws_access_key_id = testing\n"
                "aws_secret_access_key = testing\n"
            },
            ["--profile", "ir"],
            "ca_bundle of profile 'ir'",
        ),
        (
            {"config": "[profile ir]\nca_bundle = {bundle}\n", "AWS_PROFILE": "ir"},
            [],
            "ca_bundle of profile 'ir'",
        ),
        ({"REQUESTS_CA_BUNDLE": "{bundle}"}, [], "REQUESTS_CA_BUNDLE"),
    ],
    ids=["env", "default-profile", "--profile", "AWS_PROFILE", "requests"],
)
def test_the_ca_bundle_named_is_the_setting_in_force(
    setting: dict[str, str],
    argv: list[str],
    named: str,
    self_signed: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The bundle a refused certificate was checked against is named with the setting that
    chose it — a profile's ca_bundle too (only AWS_CA_BUNDLE was named: a bundle set in the
    profile read as if none were set), REQUESTS_CA_BUNDLE, which botocore reads last."""
    import certifi

    url, _ = self_signed
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for name, value in setting.items():
        value = value.format(bundle=certifi.where())
        if name == "config":
            config = tmp_path / "config"
            config.write_text(value)
            monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        else:
            monkeypatch.setenv(name, value)
    code, _, err = run("findings", *argv)
    assert code == EXIT_COULD_NOT_LOOK
    assert f"({named} is now {certifi.where()})" in err, err
    assert err.count(" is now ") == 1


def _cert_refused() -> Exception:
    """botocore's error of a connection whose certificate was not trusted, as urllib3 wraps it."""
    import ssl

    import urllib3.exceptions
    from botocore.exceptions import SSLError

    verify = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    verify.reason = "CERTIFICATE_VERIFY_FAILED"
    verify.verify_message = "self-signed certificate"
    return SSLError(
        endpoint_url="https://ec2.eu-west-1.amazonaws.com/",
        error=urllib3.exceptions.SSLError(verify),
    )


def _failures() -> dict[str, tuple[Exception, int | None]]:
    """Errors botocore raises for a call, and the attempts :func:`connect_attempts` gives each
    when no retries are configured."""
    import ssl

    import urllib3.exceptions
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ProxyConnectionError,
        ReadTimeoutError,
        SSLError,
    )

    from torinvest.aws.reach import EndpointDown

    url = "https://guardduty.eu-west-1.amazonaws.com/"
    return {
        "refused": (EndpointConnectionError(endpoint_url=url, error=ConnectionRefusedError()), 2),
        "dns": (EndpointConnectionError(endpoint_url=url, error=socket.gaierror(-2, "no")), 2),
        "connect-timeout": (ConnectTimeoutError(endpoint_url=url, error=TimeoutError()), 2),
        "proxy": (ProxyConnectionError(proxy_url="http://p:3128", error=OSError("refused")), 2),
        "tls-handshake": (
            SSLError(endpoint_url=url, error=urllib3.exceptions.SSLError(ssl.SSLEOFError())),
            2,
        ),
        "certificate": (_cert_refused(), 1),
        "read-timeout": (ReadTimeoutError(endpoint_url=url, error=TimeoutError()), None),
        "closed": (ConnectionClosedError(endpoint_url=url), None),
        "not-sent": (EndpointDown(endpoint_url=url, reason="connection refused"), None),
    }


@pytest.mark.parametrize("name", list(_failures()))
def test_connect_attempts_of_each_failure(name: str) -> None:
    """The class: every way a connection is not made gets one retry (a certificate none), unless
    the user configured retries (a certificate still none); a connection made then lost, a
    read not answered, a call not sent are not bounded here."""
    from torinvest.aws.session import connect_attempts

    error, attempts = _failures()[name]
    assert connect_attempts(error) == attempts
    assert connect_attempts(error, configured=True) == (1 if name == "certificate" else None)


def test_a_certificate_not_trusted_at_a_regional_endpoint_names_the_ca_bundle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No shared endpoint (AWS's regional ones behind a TLS-inspecting proxy): each region's
    error names its endpoint, the certificate not trusted, and AWS_CA_BUNDLE / ca_bundle."""
    from torinvest.aws import translate_error

    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/corp/bundle.pem")
    err = translate_error(_cert_refused(), service="ec2", region="eu-west-1", operation="X")
    assert err.code == "CertificateNotTrusted"
    assert str(err.message) == (
        "could not connect to the ec2 endpoint in eu-west-1 (https://ec2.eu-west-1.amazonaws.com): "
        "its TLS certificate was not trusted (self-signed certificate)"
    )
    assert "set AWS_CA_BUNDLE, or ca_bundle in the AWS profile" in str(err.hint)
    assert "(AWS_CA_BUNDLE is now /etc/corp/bundle.pem)" in str(err.hint)


@pytest.mark.usefixtures("unconfigured")
def test_a_proxy_whose_host_does_not_resolve_is_retried_once_and_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY naming a host that does not exist (a proxy of another network, a typo):
    tried twice, then named by its variable, its password never said; no region after it."""
    host = "torinvest-proxy.invalid"
    resolved: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            resolved.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    proxy = DeadProxy(f"http://{host}:3128", monkeypatch, "HTTPS_PROXY")
    code, out, err = run("findings", "--regions", ",".join(REGIONS), "--max-workers", "1")
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    assert proxy.attempts == [("guardduty", "us-east-1")] * CONNECT_FAILURE_ATTEMPTS
    assert resolved == [host] * CONNECT_FAILURE_ATTEMPTS
    assert PROXY_SECRET not in err
    assert (
        f"could not connect to the proxy {proxy.shown} (from HTTPS_PROXY): the host name does "
        "not resolve" in err
    )
    assert "unset HTTPS_PROXY (or add the endpoints' hosts to NO_PROXY)" in err


# --------------------------------------------------------------------------------------------
# a region's own endpoint (no endpoint configured: cloudtrail.sa-east-1.amazonaws.com) that
# cannot be connected to: tried by the first call, then every later call to it in the run fails
# at once saying so; the other regions and services are still asked
# --------------------------------------------------------------------------------------------
class OwnEndpoints:
    """AWS's own endpoints, none configured: the hosts of ``down`` (``guardduty.sa-east-1…``)
    are connected to at a local address (urllib3's ``create_connection``: a refusing port, a
    listener that never accepts), their requests keeping their URL as botocore sends and
    names them; every other amazonaws.com request is sent to the fake in place of AWS's host.
    ``attempts`` lists each request sent to a host of ``down``; no connection leaves the
    loopback."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, down: dict[str, tuple[str, int]], fake: str
    ) -> None:
        import urllib3.util.connection

        self.attempts: list[str] = []
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):  # AWS's hosts, not through one
            monkeypatch.delenv(name)
            monkeypatch.delenv(name.lower())
        for name in ("GUARDDUTY", "CLOUDTRAIL", "EC2", "ATHENA"):
            monkeypatch.delenv(f"AWS_ENDPOINT_URL_{name}", raising=False)
        guarded = botocore.httpsession.URLLib3Session.send
        connect = urllib3.util.connection.create_connection

        def send(session: Any, request: Any) -> Any:
            parts = urlsplit(request.url)
            if parts.hostname in down:
                self.attempts.append(parts.hostname)
                return tests.conftest.UNGUARDED_SEND(session, request)
            if str(parts.hostname).endswith(".amazonaws.com"):
                request.url = (
                    fake + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                )
            return guarded(session, request)

        def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
            host = address[0]
            if host in down:
                return connect(down[host], *args, **kwargs)
            assert host in tests.conftest.LOOPBACK_HOSTS, host  # nothing else is connected to
            return connect(address, *args, **kwargs)

        monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", send)
        monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)


@contextlib.contextmanager
def _never_accepting() -> Iterator[tuple[str, int]]:
    """A loopback listener that never accepts, its backlog full: connections get no answer."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held,
    ):
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        held.connect(sock.getsockname())
        yield sock.getsockname()


@pytest.mark.usefixtures("unconfigured")
@pytest.mark.parametrize("down", ["refused", "dropping"])
def test_a_regions_own_endpoint_is_tried_by_one_call_only(
    down: str, fake_aws: FakeAws, closed_port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """guardduty.sa-east-1 refuses connections (or drops them: a connect timeout, 0.2 s here):
    its first call is tried twice; every later call to it in the run — another operation,
    another client of it — fails at once, naming the endpoint, why, the call that found it down
    and that no later call was sent (each paid two connect timeouts before: 20 s a call). The
    same service in another region and another service in that region are still asked."""
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    from torinvest.aws import EndpointDown, translate_error

    fake_aws.guardduty("eu-west-1").add_detector("d1")
    host = "guardduty.sa-east-1.amazonaws.com"
    with _never_accepting() as dropping:
        refusing = ("127.0.0.1", int(urlsplit(closed_port).port or 0))
        address = dropping if down == "dropping" else refusing
        own = OwnEndpoints(monkeypatch, {host: address}, fake_aws.url)
        aws = Aws(AwsConfig(connect_timeout=0.2))
        with pytest.raises(ConnectTimeoutError if down == "dropping" else EndpointConnectionError):
            aws.client("guardduty", "sa-east-1").list_detectors()
        assert own.attempts == [host] * CONNECT_FAILURE_ATTEMPTS
        later = [
            lambda: aws.client("guardduty", "sa-east-1").list_detectors(),
            lambda: aws.client("guardduty", "sa-east-1").list_findings(DetectorId="d1"),
            lambda: aws.pinned().client("guardduty", "sa-east-1").list_detectors(),
        ]
        for call in later:
            with pytest.raises(EndpointDown) as refused:
                call()
            err = translate_error(refused.value, service="guardduty", region="sa-east-1")
            reason = (
                "no answer to the connection (connect timeout)"
                if down == "dropping"
                else "connection refused"
            )
            assert err.message == (
                f"could not connect to https://{host} (the guardduty endpoint for sa-east-1): "
                f"{reason}"
            )
            assert err.hint is not None and err.hint.startswith(
                "once guardduty ListDetectors could not connect to it, no later call was sent "
                "to it in this run (the other regions and services were still asked); check "
                f"that this machine can reach https://{host}"
            )
        assert own.attempts == [host] * CONNECT_FAILURE_ATTEMPTS  # none of the later calls
        # the same service elsewhere, another service there: asked (the fake answers)
        assert aws.client("guardduty", "eu-west-1").list_detectors()["DetectorIds"] == ["d1"]
        assert aws.client("cloudtrail", "sa-east-1").lookup_events()["Events"] == []


@pytest.mark.usefixtures("unconfigured")
def test_a_regions_own_endpoint_found_down_by_threads_at_once(
    fake_aws: FakeAws, closed_port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight threads call a region's own endpoint that refuses, three calls each, at once: one
    record (every error says the same, the first failure's), and no thread sends a call after
    its first (each call before the record was made pays its two attempts at most)."""
    from torinvest.aws import translate_error

    host = "guardduty.sa-east-1.amazonaws.com"
    refusing = ("127.0.0.1", int(urlsplit(closed_port).port or 0))
    own = OwnEndpoints(monkeypatch, {host: refusing}, fake_aws.url)
    aws = Aws()
    client = aws.client("guardduty", "sa-east-1")
    start = threading.Barrier(8)
    said: list[str] = []

    def calls() -> None:
        start.wait()
        for _ in range(3):
            try:
                client.list_detectors()
            except Exception as e:
                said.append(translate_error(e, service="guardduty", region="sa-east-1").message)

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(said) == 24
    assert len(set(said)) == 1, set(said)
    assert said[0].startswith(f"could not connect to https://{host} (the guardduty endpoint")
    assert len(own.attempts) <= 8 * CONNECT_FAILURE_ATTEMPTS
    before = len(own.attempts)
    outcomes = aws.map_regions(lambda r: client.list_detectors(), ["sa-east-1"] * 4)
    assert {type(o).__name__ for _, o in outcomes} == {"EndpointDown"}
    assert len(own.attempts) == before


@pytest.mark.usefixtures("unconfigured")
def test_lookups_of_a_key_and_its_derived_keys_pay_a_dropping_region_once(
    fake_aws: FakeAws, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``events --lookup --follow-derived`` over four regions, sa-east-1's own CloudTrail
    endpoint dropping connections (0.2 s connect timeout here; 10 s by default): the key's
    look-up there tries twice, the derived keys' look-ups there send nothing (each paid two
    connect timeouts before: 6 attempts, 60 s by default). The other regions are read; the
    region not read is said, naming its endpoint and the first call — never "no events"."""
    import pandas as pd

    import torinvest.sources.lookup.fetch as lookup_fetch
    import torinvest.sources.lookup.pull as lookup_pull
    from tests.test_sources_lookup import SUSPECT, by_region
    from torinvest.sources.lookup import pacer

    monkeypatch.setattr(lookup_fetch, "BACKOFF_BASE", 0.001)
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # CloudTrail: AWS's own endpoints; STS: moto
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto)
    shift = pd.Timestamp.now(tz="UTC").normalize() - pd.Timestamp("2023-07-12T00:00:00Z")
    for region, records in by_region().items():  # the sample case, made recent
        fake_aws.cloudtrail(region).add_records(
            {**r, "eventTime": (pd.Timestamp(r["eventTime"]) + shift).strftime(ISO_SECONDS)}
            for r in records
        )
    fake_aws.set_lookup_rate(None)
    pacer._PACERS.clear()
    monkeypatch.setattr(  # paced at 1,000 a second: not a test of the pacing
        lookup_pull,
        "pacer_for",
        lambda account, region, rate: pacer.pacer_for(account, region, 1e3),
    )
    start, end = (pd.Timestamp(d) + shift for d in ("2023-07-10T00:00:00Z", "2023-07-11T00:00Z"))
    host = "cloudtrail.sa-east-1.amazonaws.com"
    out_csv = tmp_path / "events.csv"
    with _never_accepting() as dropping:
        own = OwnEndpoints(monkeypatch, {host: dropping}, fake_aws.url)
        code, out, err = run(
            "events", "--lookup", "--access-key", SUSPECT, "--follow-derived",
            "--regions", "us-east-1,eu-west-1,ap-southeast-1,sa-east-1",
            "--start", start.isoformat(), "--end", end.isoformat(), "--no-cache",
            "--connect-timeout", "0.2", "--out", str(out_csv),
        )  # fmt: skip
    assert code == 0, err
    assert own.attempts == [host] * CONNECT_FAILURE_ATTEMPTS  # 6 before: 3 look-ups × 2
    assert "note: derived key ASIATFQR7NSCNGEI5QNT" in err  # followed: looked up again
    said = [line for line in err.splitlines() if "lookup:sa-east-1" in line]
    assert len(said) == 1, said
    assert (
        f"could not connect to https://{host} (the cloudtrail endpoint for sa-east-1): no answer "
        "to the connection (connect timeout) (once cloudtrail LookupEvents could not connect to "
        "it, no later call was sent to it in this run" in said[0]
    )
    assert "no events" not in said[0].lower() and "no events" not in out.lower()
    assert len(pd.read_csv(out_csv)) > 0  # the other regions' events


@pytest.mark.usefixtures("unconfigured")
def test_a_regions_own_endpoint_is_the_host_its_requests_are_sent_to(
    fake_aws: FakeAws, closed_port: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No endpoint configured, botocore's endpoint rules (a rule set in AWS_DATA_PATH, as a
    user may give one) send sa-east-1's CloudTrail calls to a refusing port, the others to the
    fake — elsewhere than the client's ``endpoint_url`` (cloudtrail.sa-east-1.amazonaws.com):
    the host the request went to is recorded and refused, as any region's own endpoint."""
    from botocore.exceptions import EndpointConnectionError

    from torinvest.aws import EndpointDown, translate_error

    monkeypatch.delenv("AWS_ENDPOINT_URL_CLOUDTRAIL")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):  # botocore picks the proxy by
        monkeypatch.delenv(name)  # the client's endpoint_url: not the loopback the rules give
        monkeypatch.delenv(name.lower())
    endpoint = {"properties": {}, "headers": {}}
    rules = {
        "version": "1.0",
        "parameters": {
            "Region": {"builtIn": "AWS::Region", "required": False, "type": "String"},
        },
        "rules": [
            {
                "conditions": [
                    {"fn": "stringEquals", "argv": [{"ref": "Region"}, "sa-east-1"]},
                ],
                "endpoint": {"url": closed_port, **endpoint},
                "type": "endpoint",
            },
            {"conditions": [], "endpoint": {"url": fake_aws.url, **endpoint}, "type": "endpoint"},
        ],
    }
    folder = tmp_path / "data" / "cloudtrail" / "2013-11-01"
    folder.mkdir(parents=True)
    (folder / "endpoint-rule-set-1.json").write_text(json.dumps(rules))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path / "data"))
    refusing = Refusing(closed_port, monkeypatch, "TORINVEST_TEST_UNUSED")
    aws = Aws()
    client = aws.client("cloudtrail", "sa-east-1")
    assert client.meta.endpoint_url == "https://cloudtrail.sa-east-1.amazonaws.com"
    with pytest.raises(EndpointConnectionError):
        client.lookup_events()
    assert refusing.attempts == [("cloudtrail", "sa-east-1")] * CONNECT_FAILURE_ATTEMPTS
    with pytest.raises(EndpointDown) as refused:
        aws.client("cloudtrail", "sa-east-1").describe_trails()
    assert len(refusing.attempts) == CONNECT_FAILURE_ATTEMPTS  # not sent
    err = translate_error(refused.value, service="cloudtrail", region="sa-east-1")
    assert err.message == (
        f"could not connect to {closed_port} (the cloudtrail endpoint for sa-east-1): "
        "connection refused"
    )
    assert aws.client("cloudtrail", "eu-west-1").lookup_events()["Events"] == []
