// Injected before any page script in every frame of a public-only scan (Playwright init
// script). Such a scan's browser reaches the network only through a proxy that connects to
// public addresses; WebRTC's UDP (STUN, TURN, peer candidates) would not go through it, so
// the profile turns it off and this removes the API, as a browser without WebRTC has none.
// Each try is reported (through the hooks' binding) and listed as refused in the report.
(() => {
  "use strict";
  const SINK = "__cmpScanSink";
  const w = window;
  const stringify = JSON.stringify;
  const apply = Reflect.apply;
  const StringCtor = String;
  const location_ = w.location;
  const sink = () => (typeof w[SINK] === "function" ? w[SINK] : null);
  let reported = 0;

  function urlsOf(config) {
    const urls = [];
    try {
      const servers = (config && config.iceServers) || [];
      for (let i = 0; i < servers.length && urls.length < 20; i++) {
        const given = servers[i] && servers[i].urls;
        const list = typeof given === "string" ? [given] : Array.from(given || []);
        for (let j = 0; j < list.length && urls.length < 20; j++) {
          urls.push(StringCtor(list[j]).slice(0, 1000));
        }
      }
    } catch (e) {}
    return urls;
  }

  function refuse(config) {
    if (reported < 100) {
      reported++;
      try {
        const send = sink();
        const message = stringify({ t: "webrtc", urls: urlsOf(config), frame: StringCtor(location_.href), origin: StringCtor(w.origin) });
        if (send) apply(send, w, [message]);
      } catch (e) {}
    }
    throw new DOMException("WebRTC is not available", "NotSupportedError");
  }

  function Refused(config) {
    refuse(config);
  }
  const names = [
    "RTCPeerConnection", "webkitRTCPeerConnection", "RTCDataChannel", "RTCIceCandidate",
    "RTCSessionDescription", "RTCRtpSender", "RTCRtpReceiver", "RTCRtpTransceiver",
    "RTCDtlsTransport", "RTCIceTransport", "RTCSctpTransport", "RTCCertificate",
    "RTCDTMFSender", "RTCStatsReport", "RTCTrackEvent", "RTCPeerConnectionIceEvent",
    "RTCDataChannelEvent", "RTCError", "RTCErrorEvent", "RTCEncodedAudioFrame",
    "RTCEncodedVideoFrame", "RTCRtpScriptTransform",
  ];
  for (const name of names) {
    try {
      if (name === "RTCPeerConnection" || name === "webkitRTCPeerConnection") {
        Object.defineProperty(w, name, { value: Refused, configurable: false, writable: false });
      } else {
        delete w[name];
      }
    } catch (e) {}
  }
})();
