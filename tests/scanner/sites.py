"""The fixture sites and vendor emulations, registered on the FakeWeb server.

Each vendor emulation reproduces only what a scanner can observe of the real thing (names,
hosts, how and where a cookie is set), from ../shared/data/vendor-ground-truth.md; the code
is ours. Sites:

* ``www.shop.test``: our own banner (``window.cmp``), tags blocked until consent, a page only
  listed in the sitemap (reached via robots.txt → sitemap index → sitemap).
* ``www.news.test``: violates consent (GA cookie and beacon and a YouTube embed before any
  choice) and uses a foreign banner (Complianz markup, Dutch labels: only autoconsent's rule
  can answer it).
* ``www.kafe.test``: a home-made Swedish banner in an open shadow root (only the button-text
  fallback can answer it); after accepting, Hotjar writes a cookie 1.2 s late.
* ``www.bistro.test``: a German banner inside an iframe (the fallback again).
* ``www.fjord.test``: a Norwegian banner with "reject" only behind its settings layer.
* ``install_tagged``: a site carrying our real tag (served by a test's own CMP server) and
  the vendors' unmodified install snippets (GTM → gtag, Meta Pixel with its ``<noscript>``
  image, Hotjar, Mouseflow), and a session cookie of its own.
* ``www.butik.se``: a real public suffix. Its analytics tag tries ``.se`` before ``.butik.se``
  (refused by the browser), its own server and scripts set cookies and storage nobody else
  knows (the site's, for review), an F5 load balancer sets its affinity cookie, a hosted
  banner (CookieHub) sets its own cookie, and an ad pixel sends a cross-site ``Set-Cookie``
  without ``SameSite=None`` (refused).
"""

from __future__ import annotations

from tests.scanner.fakeweb import FIXTURES, FakeWeb, Route

GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
JS = "application/javascript"
THIRD_PARTY = "; Secure; SameSite=None"


def _vendor(name: str) -> str:
    return (FIXTURES / "vendors" / name).read_text(encoding="utf-8")


def install_vendors(web: FakeWeb) -> None:
    web.add("www.googletagmanager.com", "/gtag/js", Route(_vendor("gtag.js"), JS))
    web.add("www.googletagmanager.com", "/gtm.js", Route(_vendor("gtm.js"), JS))
    web.add("cdn.mouseflow.com", "/projects/abc-123.js", Route(_vendor("mouseflow.js"), JS))
    web.add("region1.google-analytics.com", "/g/collect", Route(b"", "text/plain", 204))
    web.add("connect.facebook.net", "/en_US/fbevents.js", Route(_vendor("fbevents.js"), JS))
    web.add(
        "www.facebook.com",
        "/tr/",
        Route(GIF, "image/gif", headers=(
            ("Set-Cookie", "fr=0Abc.1; Domain=.facebook.com; Path=/; Max-Age=7776000; HttpOnly"
             + THIRD_PARTY),
        )),
    )
    web.add("static.hotjar.com", "/c/hotjar-123.js", Route(_vendor("hotjar.js"), JS))
    web.add(
        "www.youtube.com",
        "/embed/abc",
        Route(_vendor("youtube-embed.html"), headers=(
            ("Set-Cookie", "YSC=x1; Domain=.youtube.com; Path=/; HttpOnly" + THIRD_PARTY),
            ("Set-Cookie", "VISITOR_INFO1_LIVE=y2; Domain=.youtube.com; Path=/; Max-Age=15552000;"
             " HttpOnly" + THIRD_PARTY),
        )),
    )
    web.add("consent.cmp.test", "/v1/sites/demo/cmp.js", Route(_vendor("cmp.js"), JS))
    web.add("cdn.cookiehub.eu", "/c2/abc123.js", Route(_vendor("cookiehub.js"), JS))


def _page(title: str, head: str = "", body: str = "") -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"{head}</head><body><h1>{title}</h1>{body}</body></html>"
    )


def install_shop(web: FakeWeb) -> None:
    host = "www.shop.test"
    cmp = "<script src='https://consent.cmp.test:__PORT__/v1/sites/demo/cmp.js'></script>"
    stats = (
        "<script type='text/plain' data-cmp-category='statistics' "
        "src='https://www.googletagmanager.com:__PORT__/gtag/js?id=G-ABC123'></script>"
    )
    pixel = (
        "<script type='text/plain' data-cmp-category='marketing' "
        "src='https://connect.facebook.net:__PORT__/en_US/fbevents.js'></script>"
    )
    nav = "<nav><a href='/products'>Products</a> <a href='/about#team'>About</a></nav>"
    # The shop's server opens a session on the home page (a first-party HTTP cookie).
    session = (("Set-Cookie", "PHPSESSID=abc123; Path=/; HttpOnly; SameSite=Lax"),)
    web.add(host, "/", Route(_page("Shop", cmp + stats, nav), headers=session))
    web.add(host, "/products", Route(_page("Products", cmp + stats, nav + "<a href='/'>Home</a>")))
    web.add(host, "/about", Route(_page("About", cmp + stats, nav)))
    # Linked from nowhere: only robots.txt → sitemap index → sitemap leads here.
    web.add(host, "/campaign", Route(_page("Campaign", cmp + stats + pixel, nav)))
    web.add(host, "/robots.txt", Route(
        "User-agent: *\nAllow: /\nSitemap: https://www.shop.test:__PORT__/sitemap_index.xml\n",
        "text/plain",
    ))
    web.add(host, "/sitemap_index.xml", Route(
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        "<sitemap><loc>https://www.shop.test:__PORT__/sitemap-pages.xml</loc></sitemap>"
        "</sitemapindex>",
        "application/xml",
    ))
    web.add(host, "/sitemap-pages.xml", Route(
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        "<url><loc>https://www.shop.test:__PORT__/</loc></url>"
        "<url><loc>https://www.shop.test:__PORT__/campaign</loc></url>"
        "</urlset>",
        "application/xml",
    ))


_COMPLIANZ_LIKE = """
<div id="cmplz-cookiebanner-container"><div class="cmplz-cookiebanner" style="position:fixed;
bottom:0;left:0;right:0;background:#eee;padding:1em">
<p>Wij gebruiken cookies.</p>
<button class="cmplz-btn cmplz-accept">Accepteren</button>
<button class="cmplz-btn cmplz-deny">Weigeren</button></div></div>
<script>
(function () {
  var banner = document.querySelector(".cmplz-cookiebanner");
  function pixel() {
    var s = document.createElement("script");
    s.src = "https://connect.facebook.net:__PORT__/en_US/fbevents.js";
    document.head.appendChild(s);
  }
  function choose(value) {
    document.cookie = "cmplz_marketing=" + value + "; path=/; max-age=31536000";
    document.cookie = "cmplz_banner-status=dismissed; path=/; max-age=31536000";
    banner.style.display = "none";
    if (value === "allow") pixel();
  }
  var m = document.cookie.match(/cmplz_marketing=(\\w+)/);
  if (m) { banner.style.display = "none"; if (m[1] === "allow") pixel(); }
  document.querySelector(".cmplz-accept").onclick = function () { choose("allow"); };
  document.querySelector(".cmplz-deny").onclick = function () { choose("deny"); };
})();
</script>
"""


def install_news(web: FakeWeb) -> None:
    host = "www.news.test"
    ga = ("<script async src='https://www.googletagmanager.com:__PORT__/gtag/js?id=G-ABC123'>"
          "</script>")
    video = "<iframe src='https://www.youtube.com:__PORT__/embed/abc' width=320></iframe>"
    web.add(host, "/", Route(_page("News", ga, "<a href='/article'>Read</a>" + video
                                   + _COMPLIANZ_LIKE)))
    web.add(host, "/article", Route(_page("Article", ga, "<a href='/'>Home</a>" + _COMPLIANZ_LIKE)))


_SHADOW_BANNER = """
<div id="kafe-consent"></div>
<script>
(function () {
  function hotjar() {
    var s = document.createElement("script");
    s.src = "https://static.hotjar.com:__PORT__/c/hotjar-123.js";
    document.head.appendChild(s);
  }
  var m = document.cookie.match(/kafe_consent=(\\w+)/);
  if (m) { if (m[1] === "all") hotjar(); return; }
  var root = document.getElementById("kafe-consent").attachShadow({ mode: "open" });
  root.innerHTML = "<div class='box'><p>Vi använder kakor för statistik.</p>" +
    "<button id='settings'>Inställningar</button>" +
    "<button id='no'>Endast nödvändiga</button><button id='yes'>Godkänn alla</button></div>";
  function choose(value) {
    document.cookie = "kafe_consent=" + value + "; path=/; max-age=31536000";
    root.innerHTML = "";
    if (value === "all") hotjar();
  }
  root.getElementById("yes").onclick = function () { choose("all"); };
  root.getElementById("no").onclick = function () { choose("necessary"); };
})();
</script>
"""


def install_kafe(web: FakeWeb) -> None:
    web.add("www.kafe.test", "/", Route(_page("Kafé", "", "<p>Meny</p>" + _SHADOW_BANNER)))


_FRAME_BANNER = """<!doctype html><html lang="de"><body>
<p>Wir verwenden Cookies für Statistik.</p>
<button id="no">Alle ablehnen</button> <button id="yes">Alle akzeptieren</button>
<script>
  function choose(value) {
    document.cookie = "bistro_consent=" + value + "; path=/; max-age=31536000";
    parent.postMessage(value, "*");
  }
  document.getElementById("yes").onclick = function () { choose("all"); };
  document.getElementById("no").onclick = function () { choose("none"); };
</script></body></html>"""

_FRAME_HOST = """
<iframe id="consent" src="/consent-frame" style="position:fixed;bottom:0;width:100%;height:120px">
</iframe>
<script>
  function tags() {
    var s = document.createElement("script");
    s.src = "https://www.googletagmanager.com:__PORT__/gtag/js?id=G-ABC123";
    document.head.appendChild(s);
  }
  if (/bistro_consent=all/.test(document.cookie)) tags();
  if (/bistro_consent=/.test(document.cookie)) document.getElementById("consent").remove();
  addEventListener("message", function (e) {
    document.getElementById("consent").remove();
    if (e.data === "all") tags();
  });
</script>
"""


def install_bistro(web: FakeWeb) -> None:
    """A German banner inside an iframe: the text fallback looks into every frame."""
    web.add("www.bistro.test", "/", Route(_page("Bistro", "", "<p>Speisekarte</p>" + _FRAME_HOST)))
    web.add("www.bistro.test", "/consent-frame", Route(_FRAME_BANNER))


_HOSTILE_APP = """
// A page that tramples the globals a naive hook relies on, then stores things.
window.__cmpScanSink = function () {};
window.Error = function () { return { stack: "" }; };
JSON.stringify = function () { return "{}"; };
Reflect.apply = function () { throw new Error("no"); };
document.cookie = "zz_theme=dark; path=/; max-age=86400";
localStorage.setItem("zz_cart", "[]");
"""


def install_hostile(web: FakeWeb) -> None:
    """Overwrites Error, JSON, Reflect and the scanner's binding name before writing."""
    app = "<script src='/app.js'></script>"
    web.add("www.hostile.test", "/", Route(_page("Hostile", app)))
    web.add("www.hostile.test", "/app.js", Route(_HOSTILE_APP, JS))


_TWO_LAYER_BANNER = """
<div id="samtykke" role="dialog" aria-label="Informasjonskapsler">
  <div id="first"><p>Vi bruker informasjonskapsler til statistikk.</p>
    <button id="settings">Innstillinger</button> <button id="all">Godta alle</button></div>
  <div id="second" hidden><label><input type="checkbox" id="stats"> Statistikk</label>
    <button id="save">Lagre valg</button></div>
</div>
<script>
(function () {
  function tags() {
    var s = document.createElement("script");
    s.src = "https://www.googletagmanager.com:__PORT__/gtag/js?id=G-ABC123";
    document.head.appendChild(s);
  }
  var m = document.cookie.match(/fjord_consent=(\\w+)/);
  var box = document.getElementById("samtykke");
  if (m) { box.remove(); if (m[1] === "stats") tags(); return; }
  function choose(value) {
    document.cookie = "fjord_consent=" + value + "; path=/; max-age=31536000";
    box.remove();
    if (value === "stats") tags();
  }
  document.getElementById("all").onclick = function () { choose("stats"); };
  document.getElementById("settings").onclick = function () {
    document.getElementById("first").hidden = true;
    document.getElementById("second").hidden = false;
  };
  document.getElementById("save").onclick = function () {
    choose(document.getElementById("stats").checked ? "stats" : "necessary");
  };
})();
</script>
"""


def install_fjord(web: FakeWeb) -> None:
    """A Norwegian banner whose only way to refuse is Settings → Save (nothing ticked)."""
    web.add("www.fjord.test", "/", Route(_page("Fjord", "", "<p>Turer</p>" + _TWO_LAYER_BANNER)))


_BUTIK_APP = """
localStorage.setItem("butik_cart", "[]");
document.cookie = "butik_valuta=SEK; path=/; max-age=2592000";
// The Cookie Store API refuses a public suffix too (the promise rejects).
cookieStore.set({ name: "butik_cs", value: "1", domain: "se" }).catch(function () {});
"""


def install_butik(web: FakeWeb) -> None:
    host = "www.butik.se"
    head = (
        "<script src='https://cdn.cookiehub.eu:__PORT__/c2/abc123.js'></script>"
        "<script async src='https://www.googletagmanager.com:__PORT__/gtag/js?id=G-ABC123'>"
        "</script><script src='/js/app.js'></script>"
    )
    # A pixel whose cookie lacks SameSite=None: Chromium refuses it in a cross-site response.
    pixel = "<img src='https://px.adnet.test:__PORT__/px.gif' width=1 height=1 alt=''>"
    server = (
        ("Set-Cookie", "butik_sess=9f2c1e; Path=/; HttpOnly; Secure; SameSite=Lax"),
        ("Set-Cookie", "BIGipServer~butik~pool_web=rd5o00000000000000000000ffffc0a80a0b; "
                       "path=/; Httponly; Secure"),
    )
    nav = "<a href='/'>Hem</a> <a href='/kassa'>Kassa</a>"
    web.add(host, "/", Route(_page("Butik", head, nav + pixel), headers=server))
    web.add(host, "/kassa", Route(_page("Kassa", head, nav), headers=server[1:]))
    web.add(host, "/js/app.js", Route(_BUTIK_APP, JS))
    web.add("px.adnet.test", "/px.gif", Route(GIF, "image/gif", headers=(
        ("Set-Cookie", "adn_uid=77; Path=/; Max-Age=31536000; Secure"),
    )))


# The vendors' install snippets as their help pages give them (the host with the test port).
SNIPPETS_HEAD = """
<!-- Google Tag Manager -->
<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':
new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],
j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=
'https://www.googletagmanager.com:__PORT__/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);
})(window,document,'script','dataLayer','GTM-TEST1');</script>
<!-- End Google Tag Manager -->
<!-- Meta Pixel Code -->
<script>
!function(f,b,e,v,n,t,s)
{if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};
if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';
n.queue=[];t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];
s.parentNode.insertBefore(t,s)}(window, document,'script',
'https://connect.facebook.net:__PORT__/en_US/fbevents.js');
fbq('init', '1234');
fbq('track', 'PageView');
</script>
<noscript><img height="1" width="1" style="display:none"
src="https://www.facebook.com:__PORT__/tr?id=1234&ev=PageView&noscript=1"
/></noscript>
<!-- End Meta Pixel Code -->
<!-- Hotjar Tracking Code -->
<script>
    (function(h,o,t,j,a,r){
        h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};
        h._hjSettings={hjid:123,hjsv:6};
        a=o.getElementsByTagName('head')[0];
        r=o.createElement('script');r.async=1;
        r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;
        a.appendChild(r);
    })(window,document,'https://static.hotjar.com:__PORT__/c/hotjar-','.js?sv=');
</script>
<script type="text/javascript">
  window._mfq = window._mfq || [];
  (function() {
    var mf = document.createElement("script");
    mf.type = "text/javascript"; mf.defer = true;
    mf.src = "https://cdn.mouseflow.com:__PORT__/projects/abc-123.js";
    document.getElementsByTagName("head")[0].appendChild(mf);
  })();
</script>
"""
# What the snippets leave behind (Hotjar's user cookie after 1.2 s), and the site's own.
TAGGED_VENDOR_ITEMS = {
    ("cookie", "_ga"), ("cookie", "_ga_ABC123"), ("cookie", "_fbp"), ("cookie", "fr"),
    ("cookie", "_hjSessionUser_123"), ("localStorage", "_hjUserAttributes"),
    ("localStorage", "mf_user"), ("sessionStorage", "mf_session"),
}
TAGGED_NECESSARY = ("cookie", "PHPSESSID")


def install_tagged(web: FakeWeb, host: str, tag: str) -> tuple[str, ...]:
    """A site carrying our tag (``tag``: its ``src``) first in ``<head>`` and the vendors'
    snippets after it, on two linked pages; its server opens a session (``PHPSESSID``, a
    necessary first-party cookie) on every page. Returns the pages' URLs."""
    head = f"<script src='{tag}'></script>" + SNIPPETS_HEAD
    session = (("Set-Cookie", "PHPSESSID=abc123; Path=/; HttpOnly; SameSite=Lax"),)
    web.add(host, "/", Route(_page("Tagged", head, "<a href='/about'>About</a>"),
                             headers=session))
    web.add(host, "/about", Route(_page("About", head, "<a href='/'>Home</a>"),
                                  headers=session))
    return web.url(host), web.url(host, "/about")


def install_all(web: FakeWeb) -> None:
    install_vendors(web)
    install_shop(web)
    install_news(web)
    install_kafe(web)
    install_bistro(web)
    install_hostile(web)
    install_fjord(web)
    install_butik(web)
