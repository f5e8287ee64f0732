"""Automatic blocking's test data: the vendors' install snippets as site owners paste them
(unmodified, but for the test port), small emulations of the scripts they load
(our own code, shaped like the real ones: loaders that create more scripts, cookies, Web
Storage, pixels, beacons), and the rules the server would publish for them.

Every emulated script records that it ran (``window.ran``, in order) and the document's
``readyState`` then (``window.states``), so a test can tell "ran exactly once" and "ran
during parse".
"""

from __future__ import annotations

from typing import Any

from .servers import Route

JS = "text/javascript"


def _script(name: str, body: str = "") -> Route:
    return Route(
        ("(window.ran = window.ran || []).push(" + repr(name) + ");"
         "(window.states = window.states || {})[" + repr(name) + "] = document.readyState;"
         + body).encode(),
        JS,
    )


# What each vendor host answers (any vendor host: the VendorServer does not look at the host).
ROUTES: dict[str, Route] = {
    # Google Tag Manager's container: sets _ga, sends a hit with sendBeacon, and registers a
    # DOMContentLoaded handler (which, released after the event, must never be called).
    "/gtm.js": _script("gtm", """
        document.cookie = '_ga=GA1.1.111.222; path=/';
        navigator.sendBeacon('https://region1.google-analytics.com:{port}/g/collect?v=2&en=gtm');
        document.addEventListener('DOMContentLoaded', function () {
          window.lateHandlers = (window.lateHandlers || 0) + 1;
        });
        window.addEventListener('load', function () {
          window.lateHandlers = (window.lateHandlers || 0) + 1;
        });"""),
    # gtag.js: reads the commands queued in dataLayer by the inline snippet.
    "/gtag/js": _script("gtag", """
        document.cookie = '_ga_TEST1=GS1.1.1; path=/';
        window.gtagSaw = (window.dataLayer || []).length;"""),
    # Meta Pixel: works through the queue the inline stub filled (so the inline body ran
    # once, with its body), sets _fbp, sends the PageView pixel with an image.
    "/en_US/fbevents.js": _script("fbevents", """
        window.fbqQueued = window.fbq && window.fbq.queue ? window.fbq.queue.length : -1;
        document.cookie = '_fbp=fb.1.111.222; path=/';
        new Image().src = 'https://www.facebook.com:{port}/tr?id=1234567890&ev=PageView';"""),
    # HubSpot's loader: loads its analytics script, which sets the cookies.
    "/123456.js": _script("hubspot", """
        var s = document.createElement('script');
        s.src = 'https://js.hs-analytics.net:{port}/analytics/1/123456.js';
        document.head.appendChild(s);"""),
    "/analytics/1/123456.js": _script("hs-analytics", """
        document.cookie = '__hstc=1.2.3; path=/';
        document.cookie = 'hubspotutk=abc; path=/';"""),
    # Mouseflow: Web Storage only.
    "/projects/abc-123.js": _script("mouseflow", """
        localStorage.setItem('mf_user', 'u1');
        sessionStorage.setItem('mf_session', 's1');"""),
    # Hotjar: a cookie and Web Storage.
    "/c/hotjar-123.js": _script("hotjar", """
        document.cookie = '_hjSessionUser_123=x; path=/';
        localStorage.setItem('_hjSession_123', 'y');"""),
    # LinkedIn Insight: its pixel as an image.
    "/li.lms-analytics/insight.min.js": _script("linkedin", """
        document.cookie = 'li_fat_id=x; path=/';
        new Image().src = 'https://px.ads.linkedin.com:{port}/collect?pid=123&fmt=gif';"""),
    # Loaded by the single-page app's router after load.
    "/spa-chat.js": _script("spa-chat", "localStorage.setItem('chat_visitor', 'v');"),
    # reCAPTCHA: exempted by a rule with no purposes; and a widget no rule names.
    "/recaptcha/api.js": _script("recaptcha"),
    "/widget.js": _script("widget"),
    "/embed/abc123": Route(b"<!doctype html><title>video</title><p id=video>video</p>"),
}

# The rules the server would derive for these vendors (docs/contracts.md, `blocking`).
RULES: list[dict[str, Any]] = [
    {"host": "googletagmanager.com", "path": "", "purposes": ["statistics"]},
    {"host": "google-analytics.com", "path": "", "purposes": ["statistics"]},
    {"host": "connect.facebook.net", "path": "", "purposes": ["marketing"]},
    {"host": "www.facebook.com", "path": "/tr", "purposes": ["marketing"]},
    {"host": "js.hs-scripts.com", "path": "", "purposes": ["marketing"]},
    {"host": "hs-analytics.net", "path": "", "purposes": ["marketing"]},
    {"host": "mouseflow.com", "path": "", "purposes": ["statistics"]},
    {"host": "hotjar.com", "path": "", "purposes": ["statistics"]},
    {"host": "snap.licdn.com", "path": "", "purposes": ["marketing"]},
    {"host": "px.ads.linkedin.com", "path": "", "purposes": ["marketing"]},
    {"host": "www.youtube.com", "path": "/embed/", "purposes": ["marketing"]},
    {"host": "cdn.widget.test", "path": "/spa-", "purposes": ["preferences"]},
    {"host": "google.com", "path": "", "purposes": ["marketing"]},
    {"host": "www.google.com", "path": "/recaptcha/", "purposes": []},
]

STATISTICS = ["gtm", "gtag", "mouseflow", "hotjar"]
MARKETING = ["fbevents", "hubspot", "hs-analytics", "linkedin"]

# The snippets, in a page's <head> and <body> ({v}: the vendor server's origin suffix, ":PORT").
HEAD = """
<!-- Google Tag Manager -->
<script>(function(w,d,s,l,i){{w[l]=w[l]||[];w[l].push({{'gtm.start':
new Date().getTime(),event:'gtm.js'}});var f=d.getElementsByTagName(s)[0],
j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=
'https://www.googletagmanager.com{v}/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);
}})(window,document,'script','dataLayer','GTM-TEST1');</script>
<!-- End Google Tag Manager -->
<!-- Google tag (gtag.js) -->
<script async src="https://www.googletagmanager.com{v}/gtag/js?id=G-TEST1"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){{dataLayer.push(arguments);}}
  gtag('js', new Date());
  gtag('config', 'G-TEST1');
</script>
<!-- Meta Pixel Code -->
<script>
!function(f,b,e,v,n,t,s)
{{if(f.fbq)return;n=f.fbq=function(){{n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)}};
if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';
n.queue=[];t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];
s.parentNode.insertBefore(t,s)}}(window, document,'script',
'https://connect.facebook.net{v}/en_US/fbevents.js');
fbq('init', '1234567890');
fbq('track', 'PageView');
</script>
<noscript><img height="1" width="1" style="display:none"
src="https://www.facebook.com{v}/tr?id=1234567890&ev=PageView&noscript=1"
/></noscript>
<!-- End Meta Pixel Code -->
<!-- Hotjar Tracking Code -->
<script>
    (function(h,o,t,j,a,r){{
        h.hj=h.hj||function(){{(h.hj.q=h.hj.q||[]).push(arguments)}};
        h._hjSettings={{hjid:123,hjsv:6}};
        a=o.getElementsByTagName('head')[0];
        r=o.createElement('script');r.async=1;
        r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;
        a.appendChild(r);
    }})(window,document,'https://static.hotjar.com{v}/c/hotjar-','.js?sv=');
</script>
<script type="text/javascript">
  window._mfq = window._mfq || [];
  (function() {{
    var mf = document.createElement("script");
    mf.type = "text/javascript"; mf.defer = true;
    mf.src = "https://cdn.mouseflow.com{v}/projects/abc-123.js";
    document.getElementsByTagName("head")[0].appendChild(mf);
  }})();
</script>
"""

BODY = """
<!-- The site's own script and two third parties no rule holds (one exempted) -->
<script src="js/ran.js?name=site-own"></script>
<script src="https://www.google.com{v}/recaptcha/api.js"></script>
<script src="https://cdn.widget.test{v}/widget.js"></script>
<script>
  window.siteHandlers = {{dcl: 0, load: 0}};
  document.addEventListener('DOMContentLoaded', function () {{ siteHandlers.dcl++; }});
  window.addEventListener('load', function () {{ siteHandlers.load++; }});
  window.parseOrder = (window.ran || []).slice();
</script>
<iframe width="560" height="315" src="https://www.youtube.com{v}/embed/abc123"
        title="YouTube video player" frameborder="0" allowfullscreen></iframe>
<!-- A conversion pixel, a beacon, and calls no one can hold back (dropped before consent) -->
<script>
  new Image().src = 'https://www.facebook.com{v}/tr?id=1234567890&ev=Lead';
  navigator.sendBeacon('https://region1.google-analytics.com{v}/g/collect?v=2&en=beacon', 'x');
  window.dropped = [];
  fetch('https://region1.google-analytics.com{v}/g/collect?v=2&en=fetch', {{method: 'POST'}})
    .then(function () {{ dropped.push('fetch sent'); }},
          function (e) {{ dropped.push('fetch ' + e.name); }});
  var x = new XMLHttpRequest();
  x.open('POST', 'https://region1.google-analytics.com{v}/g/collect?v=2&en=xhr');
  x.onload = function () {{ dropped.push('xhr sent'); }};
  x.onerror = function () {{ dropped.push('xhr error ' + x.status); }};
  x.send('x');
</script>
<!-- HubSpot Embed Code -->
<script type="text/javascript" id="hs-script-loader" async defer
        src="https://js.hs-scripts.com{v}/123456.js"></script>
<!-- LinkedIn Insight Tag -->
<script type="text/javascript">
_linkedin_partner_id = "123";
window._linkedin_data_partner_ids = window._linkedin_data_partner_ids || [];
window._linkedin_data_partner_ids.push(_linkedin_partner_id);
</script><script type="text/javascript">
(function(l) {{
if (!l){{window.lintrk = function(a,b){{window.lintrk.q.push([a,b])}};
window.lintrk.q=[]}}
var s = document.getElementsByTagName("script")[0];
var b = document.createElement("script");
b.type = "text/javascript";b.async = true;
b.src = "https://snap.licdn.com{v}/li.lms-analytics/insight.min.js";
s.parentNode.insertBefore(b, s);}})(window.lintrk);
</script>
<noscript>
<img height="1" width="1" style="display:none;" alt=""
     src="https://px.ads.linkedin.com{v}/collect/?pid=123&fmt=gif" />
</noscript>
"""

# A single-page app's router: a later "page" loads a chat widget with a script.
SPA = """
<button id=route type=button onclick="
  history.pushState({{}}, '', '#support');
  var s = document.createElement('script');
  s.src = 'https://cdn.widget.test{v}/spa-chat.js';
  document.body.appendChild(s);">Support</button>
"""


def snippets(port: int) -> tuple[str, str]:
    """The head and body snippets pointing at the vendor server on ``port``."""
    v = f":{port}"
    return HEAD.format(v=v), (BODY + SPA).format(v=v)


# What the scripts leave behind: cookies and Web Storage keys, by purpose.
COOKIES = {"statistics": {"_ga", "_ga_TEST1", "_hjSessionUser_123"},
           "marketing": {"_fbp", "__hstc", "hubspotutk", "li_fat_id"}}
STORAGE = {"statistics": {"mf_user", "mf_session", "_hjSession_123"},
           "preferences": {"chat_visitor"}}
# The vendor hosts each purpose's resources are fetched from.
HOSTS = {
    "statistics": {"www.googletagmanager.com", "region1.google-analytics.com",
                   "cdn.mouseflow.com", "static.hotjar.com"},
    "marketing": {"connect.facebook.net", "www.facebook.com", "js.hs-scripts.com",
                  "js.hs-analytics.net", "snap.licdn.com", "px.ads.linkedin.com",
                  "www.youtube.com"},
}
