import pytest

from scanner import InvalidTargetError, PrivateTargetError, check_public_target


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata, link-local
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://0.0.0.0/",
        "http://224.0.0.1/",  # multicast
        "http://240.0.0.1/",  # reserved
        "http://[::1]/",
        "http://[fe80::1]/",  # link-local
        "http://[fc00::1]/",  # unique local
        "http://[ff02::1]/",  # multicast
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "http://[::ffff:10.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    ],
)
def test_private_targets_are_refused(url: str) -> None:
    with pytest.raises(PrivateTargetError):
        check_public_target(url)


@pytest.mark.parametrize("url", ["http://93.184.216.34/", "https://[2606:4700:4700::1111]/"])
def test_public_addresses_pass(url: str) -> None:
    assert check_public_target(url)


def test_operator_may_allow_private_targets() -> None:
    assert check_public_target("http://127.0.0.1:8000/", allow_private=True) == ["127.0.0.1"]


@pytest.mark.parametrize("url", ["ftp://example.com/", "javascript:alert(1)", "http:///x"])
def test_non_http_targets_are_invalid(url: str) -> None:
    with pytest.raises(InvalidTargetError):
        check_public_target(url)
