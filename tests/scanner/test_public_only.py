"""A server-requested scan (``public_only``) does not reach a private address from a public
page: not by an embed, not by a frame, not by a redirect, not by WebRTC."""

import json
import socket
from pathlib import Path

import pytest

from scanner import ScanOptions, scan_site
from scanner.browser import BASE_ARGS, write_visitor_profile
from tests.scanner.fakeweb import FakeWeb, Route

pytestmark = pytest.mark.browser

PUBLIC = "127.0.0.1"  # treated as public here (public_networks), as a test's stand-in
INTRANET = "127.0.0.2"  # also this machine, but not in public_networks: the server's network


def _options(web: FakeWeb, path: str) -> ScanOptions:
    return ScanOptions(
        start_url=web.url(PUBLIC, path), max_pages=2, passes=("none",), settle=0.2,
        idle_timeout=0.5, ignore_https_errors=True, use_sitemap=False,
        public_only=True, public_networks=("127.0.0.1/32",),
    )


async def test_embeds_and_frames_of_private_addresses_are_refused(web: FakeWeb) -> None:
    intranet = FakeWeb(address=INTRANET).start()
    try:
        intranet.add(INTRANET, "/admin", Route("<title>Internal</title>"))
        intranet.add(INTRANET, "/pixel.gif", Route(b"GIF89a", "image/gif"))
        pixel, admin = intranet.url(INTRANET, "/pixel.gif"), intranet.url(INTRANET, "/admin")
        web.add(PUBLIC, "/embeds", Route(
            f'<!doctype html><title>Guarded</title><img src="{pixel}" alt="">'
            f'<iframe src="{admin}" title="x"></iframe>'
        ))
        options = _options(web, "/embeds")

        report = await scan_site(options)
        assert intranet.log == []
        # https goes through a tunnel: the proxy knows the host and port, not the path
        assert f"{INTRANET}:{intranet.port}" in report.blocked
        assert [p.status for p in report.pages] == [200]

        # The same scan without the guard does reach it: what the guard stops is real.
        report = await scan_site(options.model_copy(update={"public_only": False}))
        assert {path for _, path in intranet.log} == {"/pixel.gif", "/admin"}
        assert report.blocked == ()
    finally:
        intranet.stop()


async def test_a_redirect_to_a_private_address_is_refused(web: FakeWeb) -> None:
    intranet = FakeWeb(address=INTRANET).start()
    try:
        intranet.add(INTRANET, "/admin", Route("<title>Internal</title>"))
        web.add(PUBLIC, "/redirect", Route(
            '<!doctype html><title>Guarded</title><a href="/away">away</a>'
        ))
        admin = intranet.url(INTRANET, "/admin")
        web.add(PUBLIC, "/away", Route("", status=302, headers=(("Location", admin),)))
        report = await scan_site(_options(web, "/redirect"))
        assert intranet.log == []
        assert f"{INTRANET}:{intranet.port}" in report.blocked
        away = [p for p in report.pages if p.url.endswith("/away")]
        assert len(away) == 1 and away[0].error is not None
    finally:
        intranet.stop()


def _stun_page(port: int) -> str:
    # A STUN server on this machine: a data channel's offer makes Chromium gather candidates,
    # which sends STUN binding requests to it over UDP. The second try goes through a frame
    # the page made itself, in case the page's own window lost the API.
    ice = f"{{iceServers: [{{urls: 'stun:127.0.0.1:{port}'}}]}}"
    return f"""<!doctype html><title>STUN</title><body><script>
    function tryRtc(win, label) {{
      try {{
        const pc = new win.RTCPeerConnection({ice});
        pc.createDataChannel("x");
        pc.createOffer().then((o) => pc.setLocalDescription(o));
        document.title += " " + label + ":made";
      }} catch (e) {{ document.title += " " + label + ":refused"; }}
    }}
    tryRtc(window, "top");
    const frame = document.createElement("iframe");
    document.body.appendChild(frame);
    tryRtc(frame.contentWindow, "frame");
    </script>"""


def _udp_listener() -> socket.socket:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    return udp


def _received(udp: socket.socket) -> int:
    count = 0
    while True:
        try:
            udp.recvfrom(4096)
        except BlockingIOError:
            return count
        count += 1


async def test_webrtc_does_not_escape_the_proxy_and_the_try_is_listed(web: FakeWeb) -> None:
    udp = _udp_listener()
    try:
        port = udp.getsockname()[1]
        web.add(PUBLIC, "/stun", Route(_stun_page(port)))
        options = _options(web, "/stun").model_copy(update={"settle": 1.5})

        report = await scan_site(options)
        assert _received(udp) == 0
        assert f"webrtc stun:127.0.0.1:{port}" in report.blocked
        assert [p.status for p in report.pages] == [200]

        # The same scan without the guard does send STUN packets: what the guard stops is real.
        report = await scan_site(options.model_copy(update={"public_only": False}))
        assert _received(udp) > 0
        assert report.blocked == ()
    finally:
        udp.close()


def test_public_only_browsers_keep_quic_and_dns_over_https_off(tmp_path: Path) -> None:
    write_visitor_profile(tmp_path, public_only=True)
    local_state = json.loads((tmp_path / "Local State").read_text())
    assert local_state["dns_over_https"]["mode"] == "off"
    preferences = json.loads((tmp_path / "Default" / "Preferences").read_text())
    assert preferences["webrtc"]["ip_handling_policy"] == "disable_non_proxied_udp"
    assert "--disable-quic" in BASE_ARGS


def _frames_page(ports: dict[str, int]) -> str:
    """WebRTC tried only from frames the page makes itself, each way a script can: an
    about:blank frame used at once (before anything could load in it), a srcdoc frame and a
    blob: frame whose own scripts try, and a frame written with document.write."""
    def ice(label: str) -> str:
        return f"{{iceServers: [{{urls: 'stun:127.0.0.1:{ports[label]}'}}]}}"

    def attempt(label: str) -> str:
        return (f"try {{ const pc = new RTCPeerConnection({ice(label)});"
                " pc.createDataChannel('x'); pc.createOffer().then((o) =>"
                " pc.setLocalDescription(o)); } catch (e) {}")

    # As JS strings inside the page's own script: "</" escaped, or it would end that script.
    inner = {label: json.dumps(f"<script>{attempt(label)}</script>").replace("</", "<\\/")
             for label in ports}
    return f"""<!doctype html><title>Frames</title><body><script>
    const blank = document.createElement("iframe");
    document.body.appendChild(blank);
    try {{
      const pc = new blank.contentWindow.RTCPeerConnection({ice("blank")});
      pc.createDataChannel("x");
      pc.createOffer().then((o) => pc.setLocalDescription(o));
    }} catch (e) {{}}
    const srcdoc = document.createElement("iframe");
    srcdoc.srcdoc = {inner["srcdoc"]};
    document.body.appendChild(srcdoc);
    const blob = document.createElement("iframe");
    blob.src = URL.createObjectURL(new Blob([{inner["blob"]}],
                                            {{type: "text/html"}}));
    document.body.appendChild(blob);
    const written = document.createElement("iframe");
    document.body.appendChild(written);
    written.contentDocument.open();
    written.contentDocument.write({inner["written"]});
    written.contentDocument.close();
    </script>"""


async def test_webrtc_from_frames_the_page_makes_is_refused_and_listed(web: FakeWeb) -> None:
    # The init script runs in every frame, the page's own about:blank, srcdoc, blob: and
    # document.write frames included, before their first script (and, for a frame used the
    # moment it is made, before the page can reach into it).
    listeners = {label: _udp_listener() for label in ("blank", "srcdoc", "blob", "written")}
    try:
        ports = {label: udp.getsockname()[1] for label, udp in listeners.items()}
        web.add(PUBLIC, "/frames", Route(_frames_page(ports)))
        options = _options(web, "/frames").model_copy(update={"settle": 1.5})

        report = await scan_site(options)
        assert {label: _received(udp) for label, udp in listeners.items()} == dict.fromkeys(
            listeners, 0)
        listed = {label for label, port in ports.items()
                  if f"webrtc stun:127.0.0.1:{port}" in report.blocked}
        assert listed == set(ports), report.blocked

        # Without the guard each frame's try does send STUN packets: every one was real.
        report = await scan_site(options.model_copy(update={"public_only": False}))
        assert all(_received(udp) > 0 for udp in listeners.values())
        assert report.blocked == ()
    finally:
        for udp in listeners.values():
            udp.close()
