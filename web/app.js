/*
 * app.js — dreamfarm viewer: plays the VP9 websocket stream with WebCodecs, shows the current
 * subject, the queue and the status, sends requests. Reconnects on its own.
 *
 * Websocket subprotocol "dreamfarm.v1":
 *   text   = JSON events {"type": "hello"|"subject"|"queue"|"status", ...}
 *   binary = 16-byte header + one VP9 frame:
 *            [0] type (1 = video) [1] flags (bit 0 = keyframe) [2..3] width [4..5] height
 *            [6..7] fps [8..11] frame number [12..15] server clock (ms, low 32 bits); big-endian
 * Players, chosen in this order (or forced with ?mode=webcodecs|mse|snapshot):
 *   webcodecs  VideoDecoder on the raw frames of /ws (type 1 messages)
 *   mse        Media Source Extensions on the live WebM byte stream of /ws/webm
 *              (type 2 = init segment, type 3 = cluster/SimpleBlock), drawn into the canvas
 *   snapshot   /snapshot.png once a second; events only from /ws/events
 */
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const canvas = $('video');
  const ctx2d = canvas.getContext('2d');
  const msg = $('video-msg');
  const stats = { connected: false, framesDecoded: 0, keyframes: 0, bytes: 0, messages: 0,
                  decodeErrors: 0, reconnects: 0, mode: 'webcodecs', subject: '' };
  window.dreamStats = stats;   // for tests and the curious
  window.dreamDebug = { dropConnection: () => { if (ws) ws.close(); } };   // tests: exercise reconnect

  let ws = null, decoder = null, hello = null, waitKey = true, backoff = 500;
  const forced = new URLSearchParams(location.search).get('mode');
  let mode = ['webcodecs', 'mse', 'snapshot'].includes(forced) ? forced
    : haveWebCodecs() ? 'webcodecs' : haveMse() ? 'mse' : 'snapshot';
  stats.mode = mode;
  let lastStatus = null, viewersText = '', connectedAt = 0;

  let msgShown = true;
  function showMsg(text) {
    msgShown = !!text;
    if (text) { msg.textContent = text; msg.classList.remove('hidden'); }
    else msg.classList.add('hidden');
  }

  // ---------------------------------------------------------------- video
  function haveWebCodecs() {
    return typeof window.VideoDecoder === 'function' && typeof window.EncodedVideoChunk === 'function';
  }
  function haveMse() {
    return !!(window.MediaSource && MediaSource.isTypeSupported('video/webm; codecs="vp9"'));
  }
  function switchMode(m) {   // e.g. WebCodecs present but VP9 unsupported
    if (mode === m) return;
    mode = m;
    stats.mode = m;
    if (m === 'snapshot') startSnapshotFallback();
    if (ws) ws.close();      // reconnects on the endpoint of the new mode
  }

  function closeDecoder() {
    if (decoder && decoder.state !== 'closed') { try { decoder.close(); } catch (e) { /* closed */ } }
    decoder = null;
  }

  // packets that arrive while the decoder is being configured (the GOP cache burst on join)
  let pending = null;
  async function openDecoder() {
    closeDecoder();
    waitKey = true;
    pending = [];
    if (mode === 'mse') { openMse(); return; }
    if (mode !== 'webcodecs') { startSnapshotFallback(); return; }
    const cfgs = [hello.codec, 'vp09.00.41.08', 'vp09.00.10.08', 'vp9'].filter(Boolean);
    let chosen = null;
    for (const codec of cfgs) {
      const c = { codec, codedWidth: hello.width, codedHeight: hello.height, optimizeForLatency: true };
      try {
        const sup = await VideoDecoder.isConfigSupported(c);
        if (sup && sup.supported) { chosen = c; break; }
      } catch (e) { /* try the next */ }
    }
    if (!chosen) { pending = null; switchMode(haveMse() ? 'mse' : 'snapshot'); return; }
    decoder = new VideoDecoder({
      output: (frame) => {
        try {
          if (canvas.width !== frame.displayWidth || canvas.height !== frame.displayHeight) {
            canvas.width = frame.displayWidth; canvas.height = frame.displayHeight;
          }
          ctx2d.drawImage(frame, 0, 0, canvas.width, canvas.height);
          stats.framesDecoded++;
          if (stats.framesDecoded === 1) stats.firstFrameMs = Math.round(performance.now() - connectedAt);
          if (msgShown) showMsg('');   // first picture, or first after a reconnect
        } finally {
          frame.close();   // always give the frame back
        }
      },
      error: (e) => {
        stats.decodeErrors++;
        console.warn('decoder error', e);
        decoder = null;    // an errored decoder is closed; reopen at the next keyframe
        waitKey = true;
        setTimeout(() => { if (hello && !decoder) openDecoder(); }, 100);
      },
    });
    decoder.configure(chosen);
    const backlog = pending || [];
    pending = null;
    backlog.forEach(onVideo);
  }

  function onVideo(buf) {
    if (buf.byteLength < 16) return;
    const h = new DataView(buf, 0, 16);
    const type = h.getUint8(0);
    if (type === 2 || type === 3) { onMse(type, (h.getUint8(1) & 1) === 1, buf); return; }
    if (type !== 1) return;
    const key = (h.getUint8(1) & 1) === 1;
    const fps = h.getUint16(6) || 25;
    const seq = h.getUint32(8);
    stats.bytes += buf.byteLength;
    if (key) stats.keyframes++;
    if (pending) { if (pending.length < 300) { pending.push(buf); stats.keyframes -= key ? 1 : 0; stats.bytes -= buf.byteLength; } return; }
    if (!decoder || decoder.state !== 'configured') return;
    if (waitKey && !key) return;
    // a decoder that cannot keep up (slow phone): drop until the next keyframe
    if (decoder.decodeQueueSize > 2 * fps && !key) { waitKey = true; return; }
    waitKey = false;
    try {
      decoder.decode(new EncodedVideoChunk({
        type: key ? 'key' : 'delta', timestamp: Math.round(seq * 1e6 / fps), data: new Uint8Array(buf, 16),
      }));
    } catch (e) {
      stats.decodeErrors++;
      waitKey = true;
    }
  }

  // ---------------------------------------------------------------- MSE player
  let mse = null;
  function closeMse() {
    if (!mse) return;
    mse.closed = true;
    try { mse.video.pause(); mse.video.removeAttribute('src'); mse.video.load(); mse.video.remove(); } catch (e) { /* gone */ }
    mse = null;
  }
  function openMse() {
    closeMse();
    if (!haveMse()) { switchMode('snapshot'); return; }
    const video = document.createElement('video');
    video.muted = true;
    video.playsInline = true;
    video.autoplay = true;
    video.className = 'mse-video';
    document.querySelector('.stage').appendChild(video);
    const ms = new MediaSource();
    const m = { ms, video, sb: null, queue: [], queued: 0, waitKey: true, closed: false, lastFrames: 0 };
    mse = m;
    video.src = URL.createObjectURL(ms);
    ms.addEventListener('sourceopen', () => {
      URL.revokeObjectURL(video.src);
      try {
        m.sb = ms.addSourceBuffer('video/webm; codecs="vp9"');
      } catch (e) { switchMode('snapshot'); return; }
      m.sb.mode = 'segments';
      m.sb.addEventListener('updateend', pumpMse);
      m.sb.addEventListener('error', () => { stats.decodeErrors++; });
      pumpMse();
    });
    video.play().catch(() => { /* autoplay of a muted video is allowed; retried by the watchdog */ });
    const draw = () => {
      if (m.closed) return;
      if (video.readyState >= 2) {
        if (canvas.width !== video.videoWidth && video.videoWidth) { canvas.width = video.videoWidth; canvas.height = video.videoHeight; }
        ctx2d.drawImage(video, 0, 0, canvas.width, canvas.height);
        const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
        if (q > m.lastFrames) { stats.framesDecoded += q - m.lastFrames; m.lastFrames = q; if (msgShown) showMsg(''); }
      }
      requestAnimationFrame(draw);
    };
    requestAnimationFrame(draw);
  }
  function onMse(type, key, buf) {
    stats.bytes += buf.byteLength;
    if (!mse) return;
    const data = new Uint8Array(buf, 16);
    if (type === 2) { mse.queue = [data]; mse.queued = data.byteLength; mse.waitKey = true; pumpMse(); return; }
    if (key) stats.keyframes++;
    if (mse.waitKey && !key) return;
    // too much waiting to be appended (slow device): skip to the next keyframe
    if (mse.queued > 8e6 && !key) { mse.waitKey = true; return; }
    mse.waitKey = false;
    mse.queue.push(data);
    mse.queued += data.byteLength;
    pumpMse();
  }
  function pumpMse() {
    const m = mse;
    if (!m || !m.sb || m.sb.updating || !m.queue.length || m.ms.readyState !== 'open') return;
    const all = new Uint8Array(m.queued);
    let off = 0;
    for (const q of m.queue) { all.set(q, off); off += q.byteLength; }
    m.queue = [];
    m.queued = 0;
    try {
      m.sb.appendBuffer(all);
    } catch (e) {
      stats.decodeErrors++;
      openMse();   // start over at the next keyframe (the init segment is resent on reconnect)
      if (ws) ws.close();
    }
  }
  // keep the MSE player at the live edge, jump over gaps, drop old media
  setInterval(() => {
    const m = mse;
    if (!m || !m.sb) return;
    const v = m.video, b = v.buffered;
    if (!b.length) return;
    const end = b.end(b.length - 1);
    let inside = false;
    for (let i = 0; i < b.length; i++) if (v.currentTime >= b.start(i) && v.currentTime <= b.end(i)) inside = true;
    if (!inside || end - v.currentTime > 1.5) v.currentTime = Math.max(b.start(b.length - 1), end - 0.3);
    if (v.paused) v.play().catch(() => {});
    if (!m.sb.updating && v.currentTime - b.start(0) > 30) {
      try { m.sb.remove(b.start(0), v.currentTime - 10); } catch (e) { /* busy */ }
    }
  }, 500);

  // fallback without WebCodecs or MSE: the newest frame once a second
  let snapTimer = null;
  function startSnapshotFallback() {
    if (snapTimer) return;
    stats.mode = 'snapshot';
    const img = new Image();
    img.onload = () => { ctx2d.drawImage(img, 0, 0, canvas.width, canvas.height); stats.framesDecoded++; showMsg(''); };
    snapTimer = setInterval(() => { img.src = '/snapshot.png?t=' + Date.now(); }, 1000);
  }

  // ---------------------------------------------------------------- events
  function setSubject(cur) {
    if (!cur) return;
    const text = cur.text || (cur.names || []).join(' + ');
    $('current-subject').textContent = text;
    stats.subject = text;
    subjectEnds = cur.requested && cur.remaining_s > 0 ? performance.now() + cur.remaining_s * 1000 : 0;
    showRemaining();
  }

  // the server resends the subject every few seconds; count down in between
  let subjectEnds = 0;
  function showRemaining() {
    const left = subjectEnds ? Math.round((subjectEnds - performance.now()) / 1000) : 0;
    $('remaining').textContent = left > 0 ? '(' + left + ' s)' : '';
  }
  setInterval(showRemaining, 1000);

  function setQueue(q) {
    const ol = $('queue');
    ol.textContent = '';
    (q || []).forEach((e) => {
      const li = document.createElement('li');
      li.value = e.position;
      li.textContent = e.text;
      if (e.votes > 1) {
        const v = document.createElement('span');
        v.className = 'votes';
        v.textContent = '\u00d7' + e.votes;
        li.appendChild(v);
      }
      ol.appendChild(li);
    });
    $('queue-empty').hidden = (q || []).length > 0;
  }

  function setStatus(st) {
    lastStatus = st;
    const parts = [];
    parts.push(st.workers + (st.workers === 1 ? ' worker' : ' workers'));
    parts.push(st.keyframe_rate + ' keyframes/s');
    parts.push(st.viewers + (st.viewers === 1 ? ' viewer' : ' viewers'));
    parts.push(st.fps + ' fps');
    if (st.model) parts.push(st.model);
    viewersText = parts.join(' \u00b7 ');
    $('status').textContent = viewersText;
    $('untrained-banner').hidden = !st.untrained;
  }

  function onText(text) {
    let ev;
    try { ev = JSON.parse(text); } catch (e) { return; }
    switch (ev.type) {
      case 'hello': {
        const changed = !hello || hello.codec !== ev.codec || hello.width !== ev.width || hello.height !== ev.height;
        hello = ev;
        if (changed || !decoder) {
          canvas.width = ev.width; canvas.height = ev.height;
          openDecoder();
        } else {
          waitKey = true;
        }
        break;
      }
      case 'subject': setSubject(ev.current); break;
      case 'queue': setQueue(ev.queue); break;
      case 'status': setStatus(ev); break;
      default: break;
    }
  }

  // ---------------------------------------------------------------- connection
  function connect() {
    const path = mode === 'mse' ? '/ws/webm' : mode === 'snapshot' ? '/ws/events' : '/ws';
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
    try {
      ws = new WebSocket(url, 'dreamfarm.v1');
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      stats.connected = true;
      connectedAt = performance.now();
      backoff = 500;
      if (stats.framesDecoded === 0) showMsg('Waiting for the first picture\u2026');
    };
    ws.onmessage = (e) => {
      stats.messages++;
      if (typeof e.data === 'string') onText(e.data);
      else onVideo(e.data);
    };
    ws.onclose = () => {
      stats.connected = false;
      $('status').textContent = 'disconnected \u2014 reconnecting\u2026';
      if (mode !== 'snapshot') showMsg('Connection lost, reconnecting\u2026');
      waitKey = true;
      scheduleReconnect();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  function scheduleReconnect() {
    stats.reconnects++;
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 8000);
  }

  // ---------------------------------------------------------------- requests
  const form = $('request-form'), input = $('subject-input'), result = $('request-result');
  const sugg = $('suggestions');

  function showResult(ok, text, closest) {
    result.textContent = text;
    result.className = 'result ' + (ok ? 'ok' : 'err');
    sugg.textContent = '';
    (closest || []).forEach((name) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = name;
      b.addEventListener('click', () => { input.value = name; form.requestSubmit ? form.requestSubmit() : submit(); });
      sugg.appendChild(b);
    });
  }

  async function submit(ev) {
    if (ev) ev.preventDefault();
    const subject = input.value.trim();
    if (!subject) return;
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const r = await fetch('/api/request', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ subject, name: (($('name-input') || {}).value || '').trim().slice(0, 24) }).toString(),
      });
      let j = {};
      try { j = await r.json(); } catch (e) { j = { error: 'The server answered ' + r.status }; }
      if (r.status === 202) {
        showResult(true, j.message || 'Queued.');
        if (input.value.trim() === subject) input.value = '';   // not what the viewer typed meanwhile
      } else {
        showResult(false, j.error || ('Refused (' + r.status + ')'), j.closest);
      }
    } catch (e) {
      showResult(false, 'Could not reach the server. Try again in a moment.');
    } finally {
      btn.disabled = false;
    }
  }
  form.addEventListener('submit', submit);

  async function loadClasses() {
    try {
      const r = await fetch('/api/classes');
      const j = await r.json();
      const dl = $('class-list');
      const seen = new Set();
      const frag = document.createDocumentFragment();
      (j.classes || []).forEach((c) => {
        (c.synonyms && c.synonyms.length ? c.synonyms : [c.name]).forEach((s) => {
          const k = s.toLowerCase();
          if (seen.has(k)) return;
          seen.add(k);
          const o = document.createElement('option');
          o.value = s;
          frag.appendChild(o);
        });
      });
      dl.appendChild(frag);
    } catch (e) {
      setTimeout(loadClasses, 5000);
    }
  }

  if (mode === 'snapshot') {
    showMsg('This browser cannot play the live video: showing a snapshot every second.');
    startSnapshotFallback();
  }
  loadClasses();
  connect();
})();
