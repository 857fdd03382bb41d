/*
 * app.js — dreamfarm viewer: plays the VP9 websocket stream with WebCodecs, shows the current
 * subject, the queue and the status, sends requests. Reconnects on its own.
 *
 * Websocket subprotocol "dreamfarm.v1":
 *   text   = JSON events {"type": "hello"|"subject"|"queue"|"status", ...}
 *   binary = 16-byte header + one VP9 frame:
 *            [0] type (1 = video) [1] flags (bit 0 = keyframe) [2..3] width [4..5] height
 *            [6..7] fps [8..11] frame number [12..15] server clock (ms, low 32 bits); big-endian
 * Without WebCodecs the page falls back to polling /snapshot.png once a second.
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

  let ws = null, decoder = null, hello = null, waitKey = true, backoff = 500;
  let lastStatus = null, viewersText = '';

  function showMsg(text) {
    if (text) { msg.textContent = text; msg.classList.remove('hidden'); }
    else msg.classList.add('hidden');
  }

  // ---------------------------------------------------------------- video
  function haveWebCodecs() {
    return typeof window.VideoDecoder === 'function' && typeof window.EncodedVideoChunk === 'function';
  }

  function closeDecoder() {
    if (decoder && decoder.state !== 'closed') { try { decoder.close(); } catch (e) { /* closed */ } }
    decoder = null;
  }

  async function openDecoder() {
    closeDecoder();
    waitKey = true;
    if (!haveWebCodecs()) { startSnapshotFallback(); return; }
    const cfgs = [hello.codec, 'vp09.00.41.08', 'vp09.00.10.08', 'vp9'].filter(Boolean);
    let chosen = null;
    for (const codec of cfgs) {
      const c = { codec, codedWidth: hello.width, codedHeight: hello.height, optimizeForLatency: true };
      try {
        const sup = await VideoDecoder.isConfigSupported(c);
        if (sup && sup.supported) { chosen = c; break; }
      } catch (e) { /* try the next */ }
    }
    if (!chosen) { startSnapshotFallback(); return; }
    decoder = new VideoDecoder({
      output: (frame) => {
        try {
          if (canvas.width !== frame.displayWidth || canvas.height !== frame.displayHeight) {
            canvas.width = frame.displayWidth; canvas.height = frame.displayHeight;
          }
          ctx2d.drawImage(frame, 0, 0, canvas.width, canvas.height);
          stats.framesDecoded++;
          if (stats.framesDecoded === 1) showMsg('');
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
  }

  function onVideo(buf) {
    if (buf.byteLength < 16) return;
    const h = new DataView(buf, 0, 16);
    if (h.getUint8(0) !== 1) return;
    const key = (h.getUint8(1) & 1) === 1;
    const fps = h.getUint16(6) || 25;
    const seq = h.getUint32(8);
    stats.bytes += buf.byteLength;
    if (key) stats.keyframes++;
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

  // fallback without WebCodecs: the newest frame once a second
  let snapTimer = null;
  function startSnapshotFallback() {
    if (snapTimer) return;
    stats.mode = 'snapshot';
    showMsg('');
    const img = new Image();
    img.onload = () => { ctx2d.drawImage(img, 0, 0, canvas.width, canvas.height); stats.framesDecoded++; };
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
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
    try {
      ws = new WebSocket(url, 'dreamfarm.v1');
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      stats.connected = true;
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
      if (stats.mode === 'webcodecs') showMsg('Connection lost, reconnecting\u2026');
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
        body: new URLSearchParams({ subject }).toString(),
      });
      let j = {};
      try { j = await r.json(); } catch (e) { j = { error: 'The server answered ' + r.status }; }
      if (r.status === 202) {
        showResult(true, j.message || 'Queued.');
        input.value = '';
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

  if (!haveWebCodecs()) showMsg('This browser cannot decode the live video (no WebCodecs): showing a snapshot every second.');
  loadClasses();
  connect();
})();
